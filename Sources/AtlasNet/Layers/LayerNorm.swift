import AtlasCore
import Foundation

/// ONNX LayerNormalization (opset 17) at inference: each row — the elements of the trailing dimensions from `axis`
/// on — is normalized to zero mean and unit variance, then scaled and shifted elementwise:
/// y = (x − μ)·r·γ + β with r = 1/√(σ² + ε). Statistics are accumulated in double precision in a fixed order per row,
/// so every row's result is independent of the batch and of the thread count. Per-element γ and β take the AVX-512
/// rows of `RowKernels` where they run (forward and input gradient, within float32 rounding of the loops here).
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
        if let (count, n) = try? rows(x.shape), RowKernels.isAvailable, gStep == 1, bStep == 1 {
            RowKernels.layerNorm(src, dst, rows: count, n: n, gamma: g, beta: b, epsilon: epsilon)
            return y
        }
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
        if let (count, n) = try? rows(x.shape), RowKernels.isAvailable, gStep == 1 {
            RowKernels.layerNormBackward(src, gy, dst, rows: count, n: n, gamma: g, epsilon: epsilon)
            return [gx]
        }
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

/// LayerNormalization's optional outputs: the row means μ or the row reciprocal deviations r = 1/√(σ² + ε), shaped like
/// the input with the normalized dimensions set to 1. Gradients: ∂μ/∂x_j = 1/n, ∂r/∂x_j = −r³(x_j − μ)/n.
public struct LayerNormStatistic: Layer {
    public let axis: Int
    public let epsilon: Float
    /// Whether this gives r (else μ).
    public let inverseDeviation: Bool

    public init(axis: Int, epsilon: Float, inverseDeviation: Bool) {
        self.axis = axis
        self.epsilon = epsilon
        self.inverseDeviation = inverseDeviation
    }

    public var name: String { inverseDeviation ? "LayerNormalization.InvStdDev" : "LayerNormalization.Mean" }
    public var backwardReads: BackwardReads { .inputs }
    var rows: LayerNorm { LayerNorm(axis: axis, epsilon: epsilon, scale: Tensor(shape: [1], values: [1]), bias: nil) }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let s = try rows.outputShape(inputs), a = axis < 0 ? axis + s.count : axis
        return Array(s[..<a]) + [Int](repeating: 1, count: s.count - a)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0], src = UnsafePointer(x.data)
        guard let shape = try? outputShape([x.shape]) else { fatalError("LayerNormalization called on an unvalidated input \(x.shape)") }
        let y = Tensor(uninitialized: shape), dst = y.data
        let ln = rows
        ln.forEachRow(x.shape) { base, n in
            let (mean, r) = ln.statistics(src + base, n)
            dst[base / max(n, 1)] = inverseDeviation ? r : mean
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0], gx = Tensor(uninitialized: x.shape)
        let src = UnsafePointer(x.data), g = UnsafePointer(gradOutput.data), dst = gx.data
        let ln = rows
        ln.forEachRow(x.shape) { base, n in
            let (mean, r) = ln.statistics(src + base, n)
            let gr = g[base / max(n, 1)], inv = 1 / Float(n)
            for j in 0..<n { dst[base + j] = inverseDeviation ? -gr * r * r * r * (src[base + j] - mean) * inv : gr * inv }
        }
        return [gx]
    }
}
