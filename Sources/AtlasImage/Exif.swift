/// EXIF orientation: a bounds-checked reader for tag 0x0112 in the TIFF structure of a JPEG's APP1 "Exif"
/// segment, and the eight orientation transforms (mirror/rotate) applied to an `Image`.

/// Minimal EXIF reading: only what decoding needs.
public enum Exif {
    /// The orientation (1–8) in IFD0 of a TIFF block (the APP1 payload after "Exif\0\0"), or nil when the
    /// block is malformed, has no orientation tag, or holds a value outside 1...8.
    public static func orientation(tiff: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = tiff.count
        guard n >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true   // "II"
        case (0x4D, 0x4D): little = false  // "MM"
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= n else { return nil }
            let a = Int(tiff[at]), b = Int(tiff[at + 1])
            return little ? a | b << 8 : a << 8 | b
        }
        func u32(_ at: Int) -> Int? {
            guard let lo = u16(little ? at : at + 2), let hi = u16(little ? at + 2 : at) else { return nil }
            return hi << 16 | lo
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for e in 0..<entries {
            let entry = ifd + 2 + 12 * e
            guard let tag = u16(entry) else { return nil }
            guard tag == 0x0112 else { continue }
            // Type SHORT (3), count 1: the value sits in the first two bytes of the value field.
            guard u16(entry + 2) == 3, u32(entry + 4) == 1, let value = u16(entry + 8) else { return nil }
            return (1...8).contains(value) ? value : nil
        }
        return nil
    }

    /// Convenience for byte arrays.
    public static func orientation(tiff: [UInt8]) -> Int? {
        tiff.withUnsafeBufferPointer { orientation(tiff: $0) }
    }
}

extension Image {
    /// The image as it should be displayed for EXIF orientation `orientation`:
    /// 1 as is, 2 mirrored left-right, 3 rotated 180°, 4 mirrored top-bottom, 5 transposed,
    /// 6 rotated 90° clockwise, 7 transversed, 8 rotated 90° counter-clockwise. Values 5–8 swap width
    /// and height; other values return the image unchanged.
    public func applyingOrientation(_ orientation: Int) -> Image {
        guard (2...8).contains(orientation) else { return self }
        let w = width, h = height
        let swaps = orientation >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        // Source (x, y) of output pixel (ox, oy) is  x = x0 + ox·dxx + oy·dxy,  y = y0 + ox·dyx + oy·dyy.
        let (x0, dxx, dxy, y0, dyx, dyy): (Int, Int, Int, Int, Int, Int)
        switch orientation {
        case 2: (x0, dxx, dxy, y0, dyx, dyy) = (w - 1, -1, 0, 0, 0, 1)
        case 3: (x0, dxx, dxy, y0, dyx, dyy) = (w - 1, -1, 0, h - 1, 0, -1)
        case 4: (x0, dxx, dxy, y0, dyx, dyy) = (0, 1, 0, h - 1, 0, -1)
        case 5: (x0, dxx, dxy, y0, dyx, dyy) = (0, 0, 1, 0, 1, 0)
        case 6: (x0, dxx, dxy, y0, dyx, dyy) = (0, 0, 1, h - 1, -1, 0)
        case 7: (x0, dxx, dxy, y0, dyx, dyy) = (w - 1, 0, -1, h - 1, -1, 0)
        default: (x0, dxx, dxy, y0, dyx, dyy) = (w - 1, 0, -1, 0, 1, 0)  // 8
        }
        let n = w * h, ch = channels
        let out = [Float](unsafeUninitializedCapacity: n * ch) { buffer, initialized in
            let dst = buffer.baseAddress!
            pixels.withUnsafeBufferPointer { srcBuffer in
                let src = srcBuffer.baseAddress!
                for c in 0..<ch {
                    let s = src + c * n, d = dst + c * n
                    for oy in 0..<oh {
                        var x = x0 + oy * dxy, y = y0 + oy * dyy
                        for ox in 0..<ow {
                            d[oy * ow + ox] = s[y * w + x]
                            x += dxx
                            y += dyx
                        }
                    }
                }
            }
            initialized = n * ch
        }
        return Image(uncheckedWidth: ow, height: oh, channels: ch, pixels: out)
    }
}
