import CKernels
import Foundation

/// Elementwise activations (inputs [X], any shape). Each type gives its value and its derivative; the
/// shared extension runs them in 8-lane vectors over fixed chunks in parallel.
public protocol ElementwiseLayer: Layer {
    /// y = f(x) for one element.
    func apply(_ x: Float) -> Float
    /// y = f(x) for eight elements (defaults to lane-by-lane `apply`).
    func apply(_ x: SIMD8<Float>) -> SIMD8<Float>
    /// g·f′(x) for eight elements, given g = ∂L/∂y, the input x and the output y.
    func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float>
    /// Whether `grad` reads x (when false it gets zeros, and a forward kept for backward need not hold x).
    var gradientReadsInput: Bool { get }
    /// Whether `grad` reads y (when false it gets zeros, and a forward kept for backward need not hold y).
    var gradientReadsOutput: Bool { get }
    /// y = f(x) over `count` elements from `x` into `y` (which may be `x`), with the per-element function of the
    /// scalar `apply`, so every path (`forward`, `applyInPlace` on a fused layer's output) gives the same bits.
    /// Defaults to `applyVectors`; a type with a faster kernel of the same bits gives its own.
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int)
    /// g·f′ over `count` elements into `out`, which may be `g` (each element is read before its result is written);
    /// x and y are read only where `grad` reads them. Defaults to `gradientVectors`.
    func gradient(_ g: UnsafePointer<Float>, input x: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                  into out: UnsafeMutablePointer<Float>, count: Int)
}

extension ElementwiseLayer {
    public var gradientReadsInput: Bool { true }
    public var gradientReadsOutput: Bool { true }
    public var backwardReads: BackwardReads {
        BackwardReads().union(gradientReadsInput ? .inputs : []).union(gradientReadsOutput ? .output : [])
    }

    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = apply(x[i]) }
        return r
    }

    public func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        applyVectors(x, into: y, count: count)
    }

    public func gradient(_ g: UnsafePointer<Float>, input x: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                         into out: UnsafeMutablePointer<Float>, count: Int) {
        gradientVectors(g, input: x, output: y, into: out, count: count)
    }

    /// `apply(_:into:count:)` in 8-lane vectors (the vector `apply` must equal the scalar one lane by lane; every
    /// type here keeps to that), the last few elements one by one.
    public func applyVectors(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { store8(apply(load8(x + i)), y + i); i += 8 }
        while i < count { y[i] = apply(x[i]); i += 1 }
    }

    /// `gradient(_:input:output:into:count:)` in 8-lane vectors, the last few elements padded into one vector.
    public func gradientVectors(_ g: UnsafePointer<Float>, input x: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                                into out: UnsafeMutablePointer<Float>, count: Int) {
        let readsX = gradientReadsInput, readsY = gradientReadsOutput
        var i = 0
        while i + 8 <= count {
            store8(grad(load8(g + i), readsX ? load8(x + i) : SIMD8(), readsY ? load8(y + i) : SIMD8()), out + i)
            i += 8
        }
        let n = count - i
        if n > 0 {
            var gv = SIMD8<Float>(), xv = SIMD8<Float>(), yv = SIMD8<Float>()
            for k in 0..<n { gv[k] = g[i + k]; if readsX { xv[k] = x[i + k] }; if readsY { yv[k] = y[i + k] } }
            let v = grad(gv, xv, yv)
            for k in 0..<n { out[i + k] = v[k] }
        }
    }

    /// y = f(y) in place over `count` elements, the bits of a separate step (a layer that applies it to its own
    /// output, `ActivationFusable`, relies on that).
    public func applyInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) { apply(p, into: p, count: count) }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        return inputs[0]
    }

    /// `apply(_:into:count:)` over fixed chunks in parallel.
    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let y = Tensor(uninitialized: x.shape)
        let px = UnsafePointer(x.data), py = y.data
        Parallel.forRanges(x.count, grain: Broadcast.grain) { r in
            apply(px + r.lowerBound, into: py + r.lowerBound, count: r.count)
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let gx = Tensor(uninitialized: inputs[0].shape)   // every element is written
        gradient(inputs, output: output, gradOutput: gradOutput, into: gx.data)
        return [gx]
    }

    /// The input gradient written over `gradOutput`'s own buffer, with `backward`'s bits, and returned (`gradOutput`
    /// itself). Only for a gradient nothing else holds: the executor calls it on the sums it owns, sparing a fresh
    /// buffer (on MobileNet-style networks these passes are memory-bound, and a fresh buffer's lines must be fetched
    /// before they are written).
    public func backwardInPlace(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor) -> Tensor {
        gradient(inputs, output: output, gradOutput: gradOutput, into: gradOutput.data)
        return gradOutput
    }

    /// `gradient(_:input:output:into:count:)` over fixed chunks in parallel.
    private func gradient(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, into out: UnsafeMutablePointer<Float>) {
        let px = UnsafePointer(inputs[0].data), py = UnsafePointer(output.data), pg = UnsafePointer(gradOutput.data)
        Parallel.forRanges(gradOutput.count, grain: Broadcast.grain) { r in
            let lo = r.lowerBound
            gradient(pg + lo, input: px + lo, output: py + lo, into: out + lo, count: r.count)
        }
    }
}

/// max(x, 0). The gradient passes where y > 0, which is exactly where x > 0 (NaN and −0 give y = 0), so backward
/// reads only the output and a preceding Conv can be fused with it even in runs kept for backward.
public struct Relu: ElementwiseLayer {
    public init() {}
    public var name: String { "Relu" }
    public var gradientReadsInput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { x > 0 ? x : 0 }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x.replacing(with: 0, where: .!(x .> 0)) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g.replacing(with: 0, where: .!(y .> 0))
    }
}

/// x for x ≥ 0, alpha·x below.
public struct LeakyRelu: ElementwiseLayer {
    public var alpha: Float
    public init(alpha: Float = 0.01) { self.alpha = alpha }
    public var name: String { "LeakyRelu" }
    public var gradientReadsOutput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { x < 0 ? alpha * x : x }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x.replacing(with: x * alpha, where: x .< 0) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g.replacing(with: g * alpha, where: x .< 0)
    }
}

/// min(max(x, min), max). The gradient passes where min < y < max, which is exactly where min < x < max (PyTorch's
/// rule for hardtanh and ReLU6; `torch.clamp` also passes at the bounds themselves, a measure-zero difference), so
/// backward reads only the output and a preceding Conv can be fused with it in runs kept for backward, as with Relu.
/// Clip(0, +∞) therefore has Relu's gradient bit for bit.
public struct Clip: ElementwiseLayer {
    public var min: Float
    public var max: Float
    public init(min: Float, max: Float) { self.min = min; self.max = max }
    public var name: String { "Clip" }
    public var gradientReadsInput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { x < min ? min : (x > max ? max : x) }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        x.replacing(with: SIMD8(repeating: min), where: x .< min).replacing(with: SIMD8(repeating: max), where: x .> max)
    }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g.replacing(with: 0, where: .!((y .> min) .& (y .< max)))
    }
}

/// 1 / (1 + e^−x), with `FastMath.exp` (vectorized; the scalar form has the vector form's bits).
public struct Sigmoid: ElementwiseLayer {
    public init() {}
    public var name: String { "Sigmoid" }
    public var gradientReadsInput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { 1 / (1 + FastMath.exp(-x)) }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + FastMath.exp(-x)) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g * y * (1 - y)
    }
}

/// x · σ(x) (SiLU, Swish): the exporters' `x * Sigmoid(x)` as one step (the load-time pass `silu`), with the
/// values of that pair bit for bit (σ as `Sigmoid` computes it, then the product). Where the row kernels run
/// (`RowKernels.isAvailable`), forward, in-place and input gradient are the 16-lane C kernels `ck_silu512_*`, the
/// same operations and so the same bits (a third of EfficientNet-B0's feature-vis step was SiLU in 8 lanes).
public struct SiLU: ElementwiseLayer {
    public init() {}
    public var name: String { "SiLU" }
    public var gradientReadsOutput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { x * (1 / (1 + FastMath.exp(-x))) }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x * (1 / (1 + FastMath.exp(-x))) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        let s = 1 / (1 + FastMath.exp(-x))
        return g * s + g * x * s * (1 - s)
    }

    public func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        if RowKernels.isAvailable { ck_silu512_forward(x, y, count) } else { applyVectors(x, into: y, count: count) }
    }

    public func gradient(_ g: UnsafePointer<Float>, input x: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                         into out: UnsafeMutablePointer<Float>, count: Int) {
        if RowKernels.isAvailable {
            ck_silu512_backward(g, x, out, count)
        } else {
            gradientVectors(g, input: x, output: y, into: out, count: count)
        }
    }
}

/// tanh(x), with libm's tanhf.
public struct Tanh: ElementwiseLayer {
    public init() {}
    public var name: String { "Tanh" }
    public var gradientReadsInput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g * (1 - y * y)
    }
}

/// max(0, min(1, alpha·x + beta)).
public struct HardSigmoid: ElementwiseLayer {
    public var alpha: Float
    public var beta: Float
    public init(alpha: Float = 0.2, beta: Float = 0.5) { self.alpha = alpha; self.beta = beta }
    public var name: String { "HardSigmoid" }
    public var gradientReadsOutput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { Swift.max(0, Swift.min(1, alpha * x + beta)) }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let t = x * alpha + beta
        return t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
    }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        let t = x * alpha + beta
        return (g * alpha).replacing(with: 0, where: (t .<= 0) .| (t .>= 1))
    }
}

/// x · max(0, min(1, x/6 + 1/2)).
public struct HardSwish: ElementwiseLayer {
    public init() {}
    public var name: String { "HardSwish" }
    public var gradientReadsOutput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { x * Swift.max(0, Swift.min(1, x * (1 / 6) + 0.5)) }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let t = x * (1 / 6) + 0.5
        return x * t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
    }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        let t = x * (1 / 3) + 0.5
        return (g * t).replacing(with: 0, where: x .< -3).replacing(with: g, where: x .> 3)
    }
}

/// x for x ≥ 0, alpha·(e^x − 1) below (libm's expm1f).
public struct Elu: ElementwiseLayer {
    public var alpha: Float
    public init(alpha: Float = 1) { self.alpha = alpha }
    public var name: String { "Elu" }
    @inline(__always) public func apply(_ x: Float) -> Float { x >= 0 ? x : alpha * Foundation.expm1(x) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        (g * (y + alpha)).replacing(with: g, where: x .>= 0)
    }
}

/// e^x (libm's expf).
public struct Exp: ElementwiseLayer {
    public init() {}
    public var name: String { "Exp" }
    public var gradientReadsInput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { g * y }
}

/// √x (NaN below 0); the gradient is g / (2√x).
public struct Sqrt: ElementwiseLayer {
    public init() {}
    public var name: String { "Sqrt" }
    public var gradientReadsInput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { x.squareRoot() }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x.squareRoot() }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        g * 0.5 / y
    }
}

/// −x.
public struct Neg: ElementwiseLayer {
    public init() {}
    public var name: String { "Neg" }
    public var gradientReadsInput: Bool { false }
    public var gradientReadsOutput: Bool { false }
    @inline(__always) public func apply(_ x: Float) -> Float { -x }
    @inline(__always) public func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { -x }
    @inline(__always) public func grad(_ g: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { -g }
}
