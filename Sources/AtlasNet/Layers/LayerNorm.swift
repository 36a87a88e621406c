import AtlasCore
import Foundation

/// ONNX LayerNormalization (opset 17) at inference: each row — the elements of the trailing dimensions from `axis`
/// on — is normalized to zero mean and unit variance, then scaled and shifted elementwise:
/// y = (x − μ)·r·γ + β with r = 1/√(σ² + ε). Statistics are accumulated in double precision in a fixed order per row,
/// so every row's result is independent of the batch and of the thread count.
///
/// Input gradient (γ, β constant): with x̂ = (x − μ)·r and g′ = g·γ, ∂L/∂x = r·(g′ − mean(g′) − x̂·mean(g′·x̂)).
/// Backward reads only the input: μ and r are recomputed per row.
public struct LayerNorm: Layer {
    /// First normalized dimension (may be negative: counted from the end).
    public let axis: Int
    public let epsilon: Float
    /// γ and β: one value per normalized element (or a single value), β may be absent.
    public let scale: Tensor
    public let bias: Tensor?

    public init(axis: Int = -1, epsilon: Float = 1e-5, scale: Tensor, bias: Tensor?) {
        self.axis = axis
        self.epsilon = epsilon
        self.scale = scale
        self.bias = bias
    }

    public var name: String { "LayerNormalization" }
    public var backwardReads: BackwardReads { .inputs }

    /// (rows, row length) for an input shape, validated.
    func rows(_ shape: [Int]) throws -> (count: Int, length: Int) {
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count else { throw ShapeError("LayerNormalization: axis \(axis) out of range for rank \(shape.count)") }
        let n = Tensor.elementCount(Array(shape[a...]))
        for (what, t) in [("scale", scale), ("bias", bias)] {
            guard let t else { continue }
            guard t.count == n || t.count == 1 else {
                throw ShapeError("LayerNormalization: \(what) \(t.shape) does not match the normalized dimensions \(Array(shape[a...]))")
            }
        }
        return (Tensor.elementCount(Array(shape[..<a])), n)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard inputs.count == 1 else { throw ShapeError("LayerNormalization expects 1 runtime input, got \(inputs.count)") }
        _ = try rows(inputs[0])
        return inputs[0]
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int { 3 * (inputs.first.map(Tensor.elementCount) ?? 0) }

    /// Mean and 1/√(σ² + ε) of one row.
    @inline(__always) func statistics(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var s = 0.0
        for j in 0..<n { s += Double(x[j]) }
        let mean = s / Double(n)
        var v = 0.0
        for j in 0..<n { let d = Double(x[j]) - mean; v += d * d }
        return (Float(mean), Float(1 / (v / Double(n) + Double(epsilon)).squareRoot()))
    }

    func forEachRow(_ shape: [Int], _ body: (Int, Int) -> Void) {
        guard let (count, n) = try? rows(shape) else { fatalError("LayerNormalization called on an unvalidated input \(shape)") }
        Parallel.forRanges(count, grain: max(1, 16_384 / max(n, 1))) { r in
            for row in r { body(row * n, n) }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], y = Tensor(uninitialized: x.shape)
        let src = UnsafePointer(x.data), dst = y.data
        let g = UnsafePointer(scale.data), gStep = scale.count == 1 ? 0 : 1
        let b = bias.map { UnsafePointer($0.data) }, bStep = bias?.count == 1 ? 0 : 1
        forEachRow(x.shape) { base, n in
            let (mean, r) = statistics(src + base, n)
            for j in 0..<n {
                let v = (src[base + j] - mean) * r * g[j * gStep]
                dst[base + j] = b.map { v + $0[j * bStep] } ?? v
            }
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0], gx = Tensor(uninitialized: x.shape)
        let src = UnsafePointer(x.data), gy = UnsafePointer(gradOutput.data), dst = gx.data
        let g = UnsafePointer(scale.data), gStep = scale.count == 1 ? 0 : 1
        forEachRow(x.shape) { base, n in
            let (mean, r) = statistics(src + base, n)
            var sumG = 0.0, sumGX = 0.0
            for j in 0..<n {
                let gp = Double(gy[base + j] * g[j * gStep])
                sumG += gp
                sumGX += gp * Double((src[base + j] - mean) * r)
            }
            let mg = Float(sumG / Double(n)), mgx = Float(sumGX / Double(n))
            for j in 0..<n {
                let xh = (src[base + j] - mean) * r
                dst[base + j] = r * (gy[base + j] * g[j * gStep] - mg - xh * mgx)
            }
        }
        return [gx]
    }
}
