import AtlasCore

/// Adam as TensorFlow 1's `AdamOptimizer` (what Lucid's `render_vis` uses: learning rate 0.05, β1 0.9, β2 0.999,
/// ε 1e-8), doing gradient *ascent* on per-icon flat parameter rows:
/// `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`, `θ ← θ + lr·sqrt(1−β2ᵗ)/(1−β1ᵗ) · m / (sqrt(v) + ε)`.
/// (TF adds ε to sqrt(v) before bias correction of the step; PyTorch adds it after — a negligible difference.)
/// Every element is updated independently, so icons never influence each other.
public final class Adam {
    public let learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public private(set) var step = 0
    private let m: Tensor
    private let v: Tensor

    /// State for a `[N, P]` parameter tensor.
    public init(shape: [Int], learningRate: Float = 0.05, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        m = Tensor(zeros: shape)
        v = Tensor(zeros: shape)
    }

    /// One ascent step: moves `params` along `grad` (same shape), in place.
    public func ascend(_ params: Tensor, grad: Tensor) {
        precondition(params.shape == m.shape && grad.shape == m.shape, "Adam: shape \(params.shape)/\(grad.shape) vs \(m.shape)")
        step += 1
        let t = Double(step)
        let lrT = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let b1 = beta1, b2 = beta2, eps = epsilon
        let p = params.data, g = grad.data, mm = m.data, vv = v.data
        Parallel.forRanges(params.count, grain: 1 << 14) { range in
            for i in range {
                let gi = g[i]
                mm[i] = b1 * mm[i] + (1 - b1) * gi
                vv[i] = b2 * vv[i] + (1 - b2) * gi * gi
                p[i] += lrT * mm[i] / (vv[i].squareRoot() + eps)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
