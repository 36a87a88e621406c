import AtlasCore

/// The model's input normalisation, applied to [0, 1] images inside the differentiated chain:
/// `x' = x · scale[c] + shift[c]` per channel, so forward and backward are exact and cheap.
public struct Preprocess: Equatable, Sendable, CustomStringConvertible {
    /// Per-channel multipliers and offsets (one entry applies to every channel).
    public let scale: [Float]
    public let shift: [Float]

    /// Leaves images in [0, 1].
    public static let identity = Preprocess(scale: [1], shift: [0])

    /// Maps [0, 1] linearly onto `[low, high]` (Lucid's InceptionV1: `range(-117, 138)`).
    public static func range(_ low: Float, _ high: Float) -> Preprocess {
        Preprocess(scale: [high - low], shift: [low])
    }

    /// `(x - mean[c]) / std[c]` (torchvision's ImageNet normalisation: `meanStd([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`).
    public static func meanStd(_ mean: [Float], _ std: [Float]) -> Preprocess {
        precondition(mean.count == std.count && !mean.isEmpty, "Preprocess.meanStd: mean and std counts differ")
        return Preprocess(scale: std.map { 1 / $0 }, shift: zip(mean, std).map { -$0 / $1 })
    }

    /// Lucid's InceptionV1 input range [-117, 138].
    public static let inceptionV1 = Preprocess.range(-117, 138)

    /// torchvision ImageNet mean/std.
    public static let imagenet = Preprocess.meanStd([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

    public init(scale: [Float], shift: [Float]) {
        precondition(scale.count == shift.count && !scale.isEmpty, "Preprocess: scale and shift counts differ")
        self.scale = scale
        self.shift = shift
    }

    public var description: String {
        if scale.count == 1 { return "x·\(scale[0]) + \(shift[0])" }
        return "x·\(scale) + \(shift)"
    }

    /// Whether this preprocessing fits images with `channels` channels.
    public func accepts(channels: Int) -> Bool { scale.count == 1 || scale.count == channels }

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
