import AtlasCore

/// Lucid's `pixel_image` (formerly `naive`) + `to_valid_rgb`: one parameter per pixel and channel.
///
/// Image = sigmoid(M · params) with `M = ColorDecorrelation.normalized` when `decorrelate`, else sigmoid(params).
/// Parameter layout of one icon: `[C][H][W]` (the image layout). Initial values N(0, sd²), sd 0.01 as Lucid,
/// from `SplitMix64(seed: iconSeed, stream: ParamStream.initial)`.
public struct PixelImageParam: ImageParam {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let decorrelate: Bool
    public let sd: Float

    public var parameterCount: Int { channels * height * width }

    /// `decorrelate` defaults to true for 3 channels (Lucid's `image(fft=False)` default) and must be false otherwise.
    public init(height: Int, width: Int, channels: Int = 3, decorrelate: Bool? = nil, sd: Float = 0.01) throws {
        let dec = try ValidRGB.resolve(height: height, width: width, channels: channels, decorrelate: decorrelate)
        self.channels = channels
        self.height = height
        self.width = width
        self.decorrelate = dec
        self.sd = sd
    }

    public func initialize(_ params: UnsafeMutablePointer<Float>, seed: UInt64) {
        var rng = SplitMix64(seed: seed, stream: ParamStream.initial)
        for i in 0..<parameterCount { params[i] = rng.nextNormal() * sd }
    }

    public func image(_ params: Tensor) -> Tensor {
        ValidRGB.forward(batch: params.copy().reshaped([params.shape[0], channels, height, width]), decorrelate: decorrelate)
    }

    public func backward(_ params: Tensor, image: Tensor, gradImage: Tensor) -> Tensor {
        ValidRGB.backward(batch: gradImage, image: image, decorrelate: decorrelate).reshaped([params.shape[0], parameterCount])
    }
}
