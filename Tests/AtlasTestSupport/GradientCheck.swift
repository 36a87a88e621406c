import AtlasCore

/// Random tensors and finite-difference checks shared by the test targets.
public enum TestData {
    /// A tensor of uniform values in `range`, reproducible from `seed`.
    public static func uniform(_ shape: [Int], in range: ClosedRange<Float> = -1...1, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed, stream: 7)
        let t = Tensor(zeros: shape)
        let p = t.data
        for i in 0..<t.count { p[i] = range.lowerBound + (range.upperBound - range.lowerBound) * rng.nextUniform() }
        return t
    }

    /// Largest |a - b| / max(1, |b|) over two equally shaped tensors.
    public static func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.count == b.count, "maxRelativeError: \(a.shape) vs \(b.shape)")
        var worst: Float = 0
        for i in 0..<a.count {
            let d = abs(a.data[i] - b.data[i]) / max(1, abs(b.data[i]))
            if !(d <= worst) { worst = d.isNaN ? .infinity : d }
        }
        return worst
    }
}

/// Result of comparing an analytic gradient with central finite differences.
public struct GradientReport: CustomStringConvertible {
    /// Largest |analytic - numeric| / (scale), where scale = max(1e-3, largest |numeric| seen).
    public let maxError: Double
    public let checked: Int
    public let worstIndex: Int
    public var description: String { "gradient check: \(checked) entries, max scaled error \(maxError) at \(worstIndex)" }
}

public enum GradientCheck {
    /// Checks `layer.backward` for input `wrt` against central differences of L = Σ output·R (R fixed random),
    /// accumulating L in double precision. Checks every entry when the input is small, else `samples` random ones.
    public static func check(_ layer: Layer, inputs: [Tensor], wrt: Int = 0, eps: Float = 1e-2,
                             samples: Int = 200, seed: UInt64 = 1) -> GradientReport {
        let output = layer.forward(inputs)
        let r = TestData.uniform(output.shape, seed: seed &+ 99)
        var needs = [Bool](repeating: false, count: inputs.count)
        needs[wrt] = true
        guard let analytic = layer.backward(inputs, output: output, gradOutput: r, needsGrad: needs)[wrt] else {
            return GradientReport(maxError: .infinity, checked: 0, worstIndex: -1)
        }
        precondition(analytic.shape == inputs[wrt].shape, "gradient shape \(analytic.shape) != input \(inputs[wrt].shape)")
        let x = inputs[wrt]
        func loss() -> Double {
            var perturbed = inputs
            perturbed[wrt] = x
            let y = layer.forward(perturbed)
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
            return s
        }
        var indices = Array(0..<x.count)
        if x.count > samples {
            var rng = SplitMix64(seed: seed, stream: 3)
            indices = (0..<samples).map { _ in rng.nextInt(below: x.count) }
        }
        var numeric = [Double]()
        for i in indices {
            let saved = x.data[i]
            x.data[i] = saved + eps
            let up = loss()
            x.data[i] = saved - eps
            let down = loss()
            x.data[i] = saved
            numeric.append((up - down) / (2 * Double(eps)))
        }
        let scale = max(1e-3, numeric.map { abs($0) }.max() ?? 0)
        var worst = 0.0, worstIndex = -1
        for (k, i) in indices.enumerated() {
            let e = abs(Double(analytic.data[i]) - numeric[k]) / scale
            if !(e <= worst) { worst = e.isNaN ? .infinity : e; worstIndex = i }
        }
        return GradientReport(maxError: worst, checked: indices.count, worstIndex: worstIndex)
    }
}
