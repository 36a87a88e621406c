/// Geometry operations on `Image`s: crop, center crop, pad (value maps live in `Preprocess`).
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
