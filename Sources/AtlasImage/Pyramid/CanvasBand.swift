/// `CanvasBand`: a horizontal strip of a large canvas, which a producer fills on demand (e.g. by pasting the
/// icons that intersect it) so that the whole canvas never exists in memory.

/// Rows `[y0, y0 + height)` of a `width`-wide canvas with 1 or 3 channels, as planar Float32 samples in [0, 1]
/// (`pixels[(c · height + row) · width + x]`, `row` relative to `y0`). The writer fills it with the background
/// before each producer call and owns the memory; a producer must not keep the band after returning.
public final class CanvasBand {
    public let width: Int
    public let channels: Int
    /// First canvas row of the strip.
    public internal(set) var y0: Int
    /// Rows in the strip (the last strip of a canvas may be shorter than the writer's strip height).
    public internal(set) var height: Int
    /// Rows the buffer can hold.
    public let capacity: Int
    /// Planar samples, `channels · capacity · width` allocated; the first `channels · height · width` are in use.
    public let pixels: UnsafeMutablePointer<Float>

    /// A strip buffer for up to `capacity` rows (allocated, filled with zeros).
    public init(width: Int, channels: Int, capacity: Int) {
        precondition(width > 0 && capacity > 0 && (channels == 1 || channels == 3), "CanvasBand: bad size")
        self.width = width
        self.channels = channels
        self.capacity = capacity
        self.y0 = 0
        self.height = capacity
        pixels = .allocate(capacity: channels * capacity * width)
        pixels.initialize(repeating: 0, count: channels * capacity * width)
    }

    deinit { pixels.deallocate() }

    /// Bytes of sample memory the band holds.
    public var byteCount: Int { channels * capacity * width * MemoryLayout<Float>.size }

    /// Start of canvas row `y` (absolute, inside the strip) of channel `c`.
    @inline(__always)
    public func row(_ c: Int, canvasRow y: Int) -> UnsafeMutablePointer<Float> {
        pixels + (c * height + (y - y0)) * width
    }

    /// Sets every sample of the strip to the colour `value` (one entry per channel).
    public func fill(_ value: [Float]) {
        for c in 0..<channels {
            (pixels + c * height * width).update(repeating: value[min(c, value.count - 1)], count: height * width)
        }
    }

    /// Paints the part of `image` that falls in this strip with its top-left corner at canvas (`x`, `y`), clipped
    /// to the canvas width. Gray images are replicated on RGB strips, RGB images become Rec. 601 luma on gray
    /// strips; an alpha channel blends the image over what the strip holds (`a · image + (1 − a) · strip`).
    public func paste(_ image: Image, x: Int, y: Int) {
        let top = max(y, y0), bottom = min(y + image.height, y0 + height)
        let left = max(x, 0), right = min(x + image.width, width)
        if top >= bottom || left >= right { return }
        let colors = image.layout.colorChannels, n = image.planeSize, iw = image.width
        image.pixels.withUnsafeBufferPointer { buffer in
            let src = buffer.baseAddress!
            let alpha: UnsafePointer<Float>? = image.hasAlpha ? src + colors * n : nil
            for cy in top..<bottom {
                let sy = cy - y
                for c in 0..<channels {
                    let dst = row(c, canvasRow: cy)
                    for cx in left..<right {
                        let s = sy * iw + (cx - x)
                        var v: Float
                        if colors == channels { v = src[(c * image.height) * iw + s] }
                        else if colors == 1 { v = src[s] }
                        else { v = 0.299 * src[s] + 0.587 * src[n + s] + 0.114 * src[2 * n + s] }
                        if let alpha {
                            let a = alpha[s]
                            v = a * v + (1 - a) * dst[cx]
                        }
                        dst[cx] = v
                    }
                }
            }
        }
    }
}
