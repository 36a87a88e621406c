/// `Preprocess`: the one model of a network's input normalisation, used by every command — classification,
/// collection and attribution (through `Preprocessor`) and rendering (inside AtlasVis's differentiated chain).
import AtlasCore

/// How [0, 1] image samples become network input values: `x' = x · scale[c] + shift[c]` per channel (one entry
/// applies to every channel). The named forms are the `--preprocess` vocabulary (see `Preprocess.parse`).
public struct Preprocess: Equatable, Sendable, Codable, CustomStringConvertible {
    /// Per-channel multipliers and offsets (one entry applies to every channel).
    public let scale: [Float]
    public let shift: [Float]

    /// `unit`: leaves images in [0, 1].
    public static let identity = Preprocess(scale: [1], shift: [0])

    /// `none`: raw pixel values 0…255 (Caffe-style models).
    public static let byteRange = Preprocess.range(0, 255)

    /// `inception`: Lucid's InceptionV1 input range [-117, 138].
    public static let inceptionV1 = Preprocess.range(-117, 138)

    /// `imagenet`: torchvision's ImageNet mean/std.
    public static let imagenet = Preprocess.meanStd([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

    /// Maps [0, 1] linearly onto `[low, high]`.
    public static func range(_ low: Float, _ high: Float) -> Preprocess {
        Preprocess(scale: [high - low], shift: [low])
    }

    /// `(x - mean[c]) / std[c]`; counts must match (use `meanStd(checked:_:)` for user input).
    public static func meanStd(_ mean: [Float], _ std: [Float]) -> Preprocess {
        precondition(mean.count == std.count && !mean.isEmpty, "Preprocess.meanStd: mean and std counts differ")
        return Preprocess(scale: std.map { 1 / $0 }, shift: zip(mean, std).map { -$0 / $1 })
    }

    public init(scale: [Float], shift: [Float]) {
        precondition(scale.count == shift.count && !scale.isEmpty, "Preprocess: scale and shift counts differ")
        self.scale = scale
        self.shift = shift
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let scale = try c.decode([Float].self, forKey: .scale), shift = try c.decode([Float].self, forKey: .shift)
        guard scale.count == shift.count, !scale.isEmpty, !scale.contains(0) else {
            throw DecodingError.dataCorruptedError(forKey: .scale, in: c, debugDescription: "scale and shift must be non-empty, equally long, scale non-zero")
        }
        self.init(scale: scale, shift: shift)
    }

    public var description: String {
        if scale.count == 1 { return "x·\(scale[0]) + \(shift[0])" }
        return "x·\(scale) + \(shift)"
    }

    /// Whether this preprocessing fits images with `channels` channels.
    public func accepts(channels: Int) -> Bool { scale.count == 1 || scale.count == channels }

    /// Scale and offset expanded to `channels` entries, or nil when the counts do not fit.
    public func affine(channels: Int) -> (scale: [Float], offset: [Float])? {
        guard accepts(channels: channels) else { return nil }
        return ((0..<channels).map { scale.count == 1 ? scale[0] : scale[$0] },
                (0..<channels).map { shift.count == 1 ? shift[0] : shift[$0] })
    }

    /// Applies the map in place to an `[N, C, H, W]` tensor.
    public func apply(to tensor: Tensor) throws { try map(tensor) { x, a, b in x * a + b } }

    /// The inverse map (network values back to [0, 1] samples), in place; used to save inputs.
    public func invert(_ tensor: Tensor) throws { try map(tensor) { x, a, b in (x - b) / a } }

    private func map(_ tensor: Tensor, _ f: @escaping @Sendable (Float, Float, Float) -> Float) throws {
        guard tensor.rank == 4, let (scale, offset) = affine(channels: tensor.shape[1]) else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "preprocess \(self) for tensor \(tensor.shape)")
        }
        let c = tensor.shape[1], plane = tensor.shape[2] * tensor.shape[3]
        let data = tensor.data
        Parallel.forEach(tensor.shape[0] * c) { p in
            let a = scale[p % c], b = offset[p % c]
            let d = data + p * plane
            for i in 0..<plane { d[i] = f(d[i], a, b) }
        }
    }
}
