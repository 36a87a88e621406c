import AtlasCore
import AtlasImage

/// The model's input normalisation inside the differentiated chain of rendering: `Preprocess` (AtlasImage, the one
/// preprocessing model of every command) applied to [0, 1] images, forward and backward, exact and cheap.
extension Preprocess {
    /// `[N, C, H, W]` → normalised copy.
    public func forward(_ x: Tensor) -> Tensor { apply(x, withShift: true) }

    /// Gradient w.r.t. the [0, 1] image given the gradient w.r.t. the normalised image.
    public func backward(_ grad: Tensor) -> Tensor { apply(grad, withShift: false) }

    private func apply(_ x: Tensor, withShift: Bool) -> Tensor {
        precondition(x.rank == 4 && accepts(channels: x.shape[1]), "Preprocess: \(scale.count) channels for \(x.shape)")
        let out = Tensor(zeros: x.shape)
        let c = x.shape[1], plane = x.shape[2] * x.shape[3]
        let sc = scale, sh = shift
        Parallel.forEach(x.shape[0] * c) { job in
            let ch = sc.count == 1 ? 0 : job % c
            let a = sc[ch], b = withShift ? sh[ch] : 0
            let src = x.data + job * plane, dst = out.data + job * plane
            for i in 0..<plane { dst[i] = src[i] * a + b }
        }
        return out
    }
}
