/// `Image`: a decoded picture as planar Float32 samples in [0, 1], channel-major (c, y, x) — the same order
/// as one item of an NCHW tensor, so converting to and from `Tensor` is a single copy.
import AtlasCore

/// Channel layouts an `Image` can have. The raw value is the channel count.
public enum ChannelLayout: Int, Sendable, CaseIterable {
    case gray = 1
    case grayAlpha = 2
    case rgb = 3
    case rgba = 4

    /// Whether the last channel is alpha.
    public var hasAlpha: Bool { self == .grayAlpha || self == .rgba }
    /// Number of colour channels (1 or 3).
    public var colorChannels: Int { rawValue <= 2 ? 1 : 3 }
}

/// What to do with alpha when converting to a layout without it.
public enum AlphaHandling: Sendable, Equatable {
    /// Keep the colour samples as stored and discard alpha.
    case drop
    /// Blend over a solid background colour (each component in [0, 1]; gray uses their luma).
    case composite(red: Float, green: Float, blue: Float)

    /// Composite over white, as browsers show transparent PNGs on a white page.
    public static let overWhite = AlphaHandling.composite(red: 1, green: 1, blue: 1)
}

/// A picture of `width × height` pixels with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels.
/// `pixels[(c * height + y) * width + x]` is channel `c` of pixel (x, y), nominally in [0, 1].
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// Planar samples, `channels * height * width` of them.
    public var pixels: [Float]

    /// An image filled with `value`. Sizes must be positive and `channels` in 1...4 (a programming error otherwise).
    public init(width: Int, height: Int, channels: Int, repeating value: Float = 0) {
        precondition(width > 0 && height > 0 && (1...4).contains(channels), "Image: bad size \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = [Float](repeating: value, count: width * height * channels)
    }

    /// An image over existing planar samples; throws when the count or sizes do not fit.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) throws {
        guard width > 0, height > 0, (1...4).contains(channels) else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "bad image size \(width)x\(height)x\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw ImageError(.invalidArgument, file: "<memory>",
                             reason: "\(pixels.count) samples for \(width)x\(height)x\(channels)")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Internal: takes ownership of already-validated samples.
    init(uncheckedWidth width: Int, height: Int, channels: Int, pixels: [Float]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The layout implied by the channel count.
    public var layout: ChannelLayout { ChannelLayout(rawValue: channels)! }
    public var hasAlpha: Bool { layout.hasAlpha }
    /// Samples per channel plane.
    public var planeSize: Int { width * height }

    /// Channel `c` of pixel (`x`, `y`).
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { pixels[(c * height + y) * width + x] }
        set { pixels[(c * height + y) * width + x] = newValue }
    }

    // MARK: Channel conversion

    /// This image with another channel layout. Gray → RGB replicates; RGB → gray uses Rec. 601 luma
    /// (0.299, 0.587, 0.114); alpha is added as 1, or removed according to `alpha`.
    public func converted(to target: ChannelLayout, alpha: AlphaHandling = .drop) -> Image {
        if target.rawValue == channels { return self }
        let n = planeSize
        let srcColor = layout.colorChannels, dstColor = target.colorChannels
        var out = [Float](repeating: 0, count: n * target.rawValue)
        pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                // Colour planes, composited first when alpha disappears.
                var background: [Float] = []
                if hasAlpha && !target.hasAlpha, case let .composite(r, g, b) = alpha {
                    background = srcColor == 1 ? [0.299 * r + 0.587 * g + 0.114 * b] : [r, g, b]
                }
                let alphaPlane: UnsafePointer<Float>? = hasAlpha ? UnsafePointer(src + srcColor * n) : nil
                var color = [UnsafeMutablePointer<Float>]()
                var temp: UnsafeMutablePointer<Float>? = nil
                if !background.isEmpty, let a = alphaPlane {
                    temp = .allocate(capacity: srcColor * n)
                    for c in 0..<srcColor {
                        let s = src + c * n, t = temp! + c * n, bg = background[c]
                        for i in 0..<n { t[i] = s[i] * a[i] + bg * (1 - a[i]) }
                        color.append(t)
                    }
                } else {
                    for c in 0..<srcColor { color.append(UnsafeMutablePointer(mutating: src + c * n)) }
                }
                defer { temp?.deallocate() }
                if srcColor == dstColor {
                    for c in 0..<dstColor { (dst + c * n).update(from: color[c], count: n) }
                } else if srcColor == 1 {
                    for c in 0..<3 { (dst + c * n).update(from: color[0], count: n) }
                } else {
                    let r = color[0], g = color[1], b = color[2]
                    for i in 0..<n { dst[i] = 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i] }
                }
                if target.hasAlpha {
                    let a = dst + dstColor * n
                    if let s = alphaPlane { a.update(from: s, count: n) } else { a.update(repeating: 1, count: n) }
                }
            }
        }
        return Image(uncheckedWidth: width, height: height, channels: target.rawValue, pixels: out)
    }

    // MARK: Tensors

    /// The image as a `[1, C, H, W]` tensor (one copy).
    public func tensor() -> Tensor {
        let t = Tensor(zeros: [1, channels, height, width])
        pixels.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: $0.count) }
        return t
    }

    /// Copies the samples to `destination` (C·H·W floats), e.g. one item of a batch tensor.
    public func copyPixels(to destination: UnsafeMutablePointer<Float>) {
        pixels.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// Stacks equally sized images into an `[N, C, H, W]` tensor.
    public static func batch(_ images: [Image]) throws -> Tensor {
        guard let first = images.first else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "empty batch")
        }
        for (i, im) in images.enumerated()
        where im.width != first.width || im.height != first.height || im.channels != first.channels {
            throw ImageError(.invalidArgument, file: "<memory>", reason:
                "batch item \(i) is \(im.width)x\(im.height)x\(im.channels), item 0 is \(first.width)x\(first.height)x\(first.channels)")
        }
        let item = first.pixels.count
        let t = Tensor(zeros: [images.count, first.channels, first.height, first.width])
        let base = t.data
        Parallel.forEach(images.count) { i in images[i].copyPixels(to: base + i * item) }
        return t
    }

    /// Item `index` of an `[N, C, H, W]` tensor (or a `[C, H, W]` tensor) as an image, clamped to [0, 1]
    /// (NaN becomes 0). C must be 1...4.
    public init(tensor: Tensor, index: Int = 0) throws {
        let s = tensor.shape
        let dims: [Int]
        if s.count == 4, index >= 0, index < s[0] { dims = Array(s[1...]) }
        else if s.count == 3, index == 0 { dims = s }
        else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "tensor \(s) has no image item \(index)")
        }
        guard (1...4).contains(dims[0]), dims[1] > 0, dims[2] > 0 else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "tensor \(s) is not C×H×W with C in 1...4")
        }
        let count = dims[0] * dims[1] * dims[2]
        let src = tensor.data + index * count
        let out = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let dst = buffer.baseAddress!
            for i in 0..<count {
                let v = src[i]
                dst[i] = v >= 0 ? min(v, 1) : 0  // NaN fails `>=` and becomes 0
            }
            initialized = count
        }
        self.init(uncheckedWidth: dims[2], height: dims[1], channels: dims[0], pixels: out)
    }

    // MARK: 8-bit interleaved (for encoders)

    /// Samples as interleaved 8-bit values (`(y * width + x) * channels + c`), rounded, clamped to [0, 255].
    public func interleavedBytes() -> [UInt8] {
        let n = planeSize, ch = channels, w = width
        return [UInt8](unsafeUninitializedCapacity: n * ch) { buffer, initialized in
            let dst = buffer.baseAddress!
            pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!
                Parallel.forRanges(height, grain: max(1, 16384 / w)) { rows in
                    for y in rows {
                        for c in 0..<ch {
                            let s = src + c * n + y * w
                            let d = dst + y * w * ch + c
                            for x in 0..<w {
                                let v = s[x] * 255 + 0.5
                                d[x * ch] = v >= 255 ? 255 : (v >= 0 ? UInt8(v) : 0)
                            }
                        }
                    }
                }
            }
            initialized = n * ch
        }
    }
}
