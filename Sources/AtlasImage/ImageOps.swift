/// Geometry and value operations on `Image`s and image tensors: crop, center crop, pad, and per-channel
/// normalization (mean/std, or a linear value range such as Lucid InceptionV1's [-117, 138]).
import AtlasCore

extension Image {
    /// The `width × height` region whose top-left corner is (`x`, `y`); it must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> Image {
        guard w > 0, h > 0, x >= 0, y >= 0, x + w <= width, y + h <= height else {
            throw ImageError(.invalidArgument, file: "<memory>",
                             reason: "crop \(w)x\(h) at (\(x), \(y)) outside \(width)x\(height)")
        }
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = [Float](repeating: 0, count: channels * w * h)
        pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                for c in 0..<channels {
                    for row in 0..<h {
                        (dst + (c * h + row) * w).update(from: src + (c * height + y + row) * width + x, count: w)
                    }
                }
            }
        }
        return Image(uncheckedWidth: w, height: h, channels: channels, pixels: out)
    }

    /// The centred `width × height` region (offsets rounded down, as torchvision's CenterCrop for even margins).
    public func centerCropped(width w: Int, height h: Int) throws -> Image {
        try cropped(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }

    /// The image with borders added: `value` per channel (one value for all channels, or `channels` values).
    public func padded(top: Int, left: Int, bottom: Int, right: Int, value: [Float] = [0]) throws -> Image {
        guard top >= 0, left >= 0, bottom >= 0, right >= 0, value.count == 1 || value.count == channels else {
            throw ImageError(.invalidArgument, file: "<memory>",
                             reason: "pad \(top),\(left),\(bottom),\(right) with \(value.count) values for \(channels) channels")
        }
        let w = width + left + right, h = height + top + bottom
        let (n, overflow) = w.multipliedReportingOverflow(by: h)
        guard !overflow, n <= ImageLimits.current.maxPixels else {
            throw ImageError(.tooLarge, file: "<memory>", reason: "padded size \(w)x\(h)")
        }
        var out = [Float](repeating: 0, count: channels * n)
        pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                for c in 0..<channels {
                    let plane = dst + c * n
                    plane.update(repeating: value.count == 1 ? value[0] : value[c], count: n)
                    for row in 0..<height {
                        (plane + (top + row) * w + left).update(from: src + (c * height + row) * width, count: width)
                    }
                }
            }
        }
        return Image(uncheckedWidth: w, height: h, channels: channels, pixels: out)
    }

    /// Pads evenly (extra pixel at the bottom/right) to at least `width × height`.
    public func padded(toWidth w: Int, height h: Int, value: [Float] = [0]) throws -> Image {
        let dw = max(0, w - width), dh = max(0, h - height)
        return try padded(top: dh / 2, left: dw / 2, bottom: dh - dh / 2, right: dw - dw / 2, value: value)
    }
}

/// How [0, 1] image samples are mapped to network input values.
public enum Normalization: Sendable, Equatable {
    /// Leave samples in [0, 1].
    case none
    /// `(x - mean[c]) / std[c]` per channel (one value applies to all channels).
    case meanStd(mean: [Float], std: [Float])
    /// Linear map of [0, 1] onto [low, high].
    case range(low: Float, high: Float)
    /// `scale[c]·x + shift[c]` per channel (one value applies to all channels).
    case affine(scale: [Float], shift: [Float])

    /// torchvision's ImageNet statistics.
    public static let imagenet = Normalization.meanStd(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// Lucid's InceptionV1 (`[-117, 138]`).
    public static let lucidInception = Normalization.range(low: -117, high: 138)
    /// Caffe-style 0…255.
    public static let byteRange = Normalization.range(low: 0, high: 255)

    /// Per-channel scale `a` and offset `b` so that `y = a·x + b`, or nil when the channel counts mismatch
    /// or a std is zero.
    public func affine(channels: Int) -> (scale: [Float], offset: [Float])? {
        switch self {
        case .none:
            return ([Float](repeating: 1, count: channels), [Float](repeating: 0, count: channels))
        case let .range(low, high):
            return ([Float](repeating: high - low, count: channels), [Float](repeating: low, count: channels))
        case let .affine(scale, shift):
            guard scale.count == 1 || scale.count == channels, shift.count == 1 || shift.count == channels,
                  !scale.contains(0) else { return nil }
            return ((0..<channels).map { scale.count == 1 ? scale[0] : scale[$0] },
                    (0..<channels).map { shift.count == 1 ? shift[0] : shift[$0] })
        case let .meanStd(mean, std):
            guard mean.count == 1 || mean.count == channels, std.count == 1 || std.count == channels,
                  !std.contains(0) else { return nil }
            let m = (0..<channels).map { mean.count == 1 ? mean[0] : mean[$0] }
            let s = (0..<channels).map { std.count == 1 ? std[0] : std[$0] }
            return ((0..<channels).map { 1 / s[$0] }, (0..<channels).map { -m[$0] / s[$0] })
        }
    }

    /// Applies the normalization in place to an `[N, C, H, W]` tensor.
    public func apply(to tensor: Tensor) throws {
        guard tensor.rank == 4, let (scale, offset) = affine(channels: tensor.shape[1]) else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "normalization \(self) for tensor \(tensor.shape)")
        }
        let c = tensor.shape[1], plane = tensor.shape[2] * tensor.shape[3]
        let data = tensor.data
        Parallel.forEach(tensor.shape[0] * c) { p in
            let a = scale[p % c], b = offset[p % c]
            let d = data + p * plane
            for i in 0..<plane { d[i] = d[i] * a + b }
        }
    }

    /// The inverse map (network values back to [0, 1] samples), applied in place; used to save inputs.
    public func invert(_ tensor: Tensor) throws {
        guard tensor.rank == 4, let (scale, offset) = affine(channels: tensor.shape[1]) else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "normalization \(self) for tensor \(tensor.shape)")
        }
        let c = tensor.shape[1], plane = tensor.shape[2] * tensor.shape[3]
        let data = tensor.data
        Parallel.forEach(tensor.shape[0] * c) { p in
            let a = scale[p % c], b = offset[p % c]
            let d = data + p * plane
            for i in 0..<plane { d[i] = (d[i] - b) / a }
        }
    }
}
