import AtlasCore
import Foundation

/// The error function and GELU, the activation of vision transformers and ConvNeXt, forward and input gradient.
/// Both are elementwise layers (parallel fixed chunks, thread-count invariant). Erf and exact GELU use the vectorized
/// `FastMath.erf`/`FastMath.exp` (within 4e-7 of erf, 2 ulp of e^x; the scalar forms are lane 0 of the vector ones);
/// the tanh form uses libm's `tanhf`.

/// 2/√π, the derivative of erf at 0.
private let twoOverSqrtPi: Float = 1.1283791670955126
/// 1/√2 and 1/√(2π), for exact GELU.
private let invSqrt2: Float = 0.7071067811865476
private let invSqrt2Pi: Float = 0.3989422804014327
/// √(2/π) and the cubic coefficient of the tanh approximation.
private let sqrt2OverPi: Float = 0.7978845608028654
private let tanhCubic: Float = 0.044715

/// ONNX Erf: y = erf(x); ∂y/∂x = 2/√π · e^(−x²).
public struct Erf: ElementwiseLayer {
    public init() {}
    public var name: String { "Erf" }
    public var gradientReadsOutput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { FastMath.erf(x) }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { FastMath.erf(x) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g * twoOverSqrtPi * FastMath.exp(-x * x)
    }
}

/// GELU (ONNX Gelu, opset 20; what the `gelu` load-time pass makes of torch's exported decompositions).
/// Exact: y = ½x(1 + erf(x/√2)), ∂y/∂x = ½(1 + erf(x/√2)) + x·φ(x) with φ the standard normal density.
/// Tanh: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), ∂y/∂x = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
public struct Gelu: ElementwiseLayer {
    /// The tanh approximation (`approximate="tanh"`) instead of the exact erf form.
    public let tanhApproximation: Bool
    public init(tanhApproximation: Bool = false) { self.tanhApproximation = tanhApproximation }
    public var name: String { "Gelu" }
    public var gradientReadsOutput: Bool { false }

    @inline(__always) public func apply(_ x: Float) -> Float {
        if tanhApproximation { return 0.5 * x * (1 + tanhf(sqrt2OverPi * (x + tanhCubic * x * x * x))) }
        return apply(SIMD8<Float>(repeating: x))[0]
    }

    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        if tanhApproximation {
            var r = SIMD8<Float>()
            for i in 0..<8 { r[i] = apply(x[i]) }
            return r
        }
        return 0.5 * x * (1 + FastMath.erf(x * invSqrt2))
    }

    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        if !tanhApproximation {
            return g * (0.5 * (1 + FastMath.erf(x * invSqrt2)) + x * invSqrt2Pi * FastMath.exp(-0.5 * x * x))
        }
        var r = SIMD8<Float>()
        for i in 0..<8 {
            let v = x[i]
            let t = tanhf(sqrt2OverPi * (v + tanhCubic * v * v * v))
            r[i] = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * sqrt2OverPi * (1 + 3 * tanhCubic * v * v))
        }
        return r
    }
}
