/// Internal glue between the CCodecs shim (libpng, libjpeg) and `Image`: status → `ImageError` mapping,
/// the pixel-cap check before allocation, and 8/16-bit interleaved → planar Float32 conversion.
import AtlasCore
import CCodecs

/// Converts a shim status (non-zero) and message to a typed error.
func codecError(_ status: Int32, message: [CChar], file: String, format: String, info: cc_image_info,
                limits: ImageLimits) -> ImageError {
    let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    switch Int(status) {
    case CC_ERR_TRUNCATED:
        return ImageError(.truncated, file: file, reason: "\(format) data ends early (\(text))")
    case CC_ERR_LIMIT:
        let size = info.width > 0 ? "\(info.width)x\(info.height) = \(Int(info.width) * Int(info.height)) pixels; " : ""
        return ImageError(.tooLarge, file: file, reason: "\(format) header says \(size)limit is \(limits.maxPixels) pixels (\(text))")
    case CC_ERR_NOMEM:
        return ImageError(.tooLarge, file: file, reason: "out of memory decoding \(format)")
    case CC_ERR_ARGUMENT:
        return ImageError(.invalidArgument, file: file, reason: text)
    default:
        return ImageError(.corrupt, file: file, reason: "\(format): \(text)")
    }
}

/// Interleaved 8- or 16-bit samples (host order) → planar Float32 in [0, 1]: exactly `Float(k) / 255`
/// (or `/ 65535`), so an 8-bit round trip through `Image.interleavedBytes` is lossless.
func planarFloats(from raw: UnsafeRawPointer, width: Int, height: Int, channels: Int, bitDepth: Int) -> [Float] {
    let n = width * height
    return [Float](unsafeUninitializedCapacity: n * channels) { buffer, initialized in
        let dst = buffer.baseAddress!
        Parallel.forRanges(height, grain: max(1, 32768 / max(width, 1))) { rows in
            let start = rows.lowerBound * width, count = rows.count * width
            if bitDepth == 16 {
                let src = raw.assumingMemoryBound(to: UInt16.self) + start * channels
                for c in 0..<channels {
                    let d = dst + c * n + start
                    for i in 0..<count { d[i] = Float(src[i * channels + c]) / 65535 }
                }
                return
            }
            let src = raw.assumingMemoryBound(to: UInt8.self) + start * channels
            let p0 = dst + start
            switch channels {
            case 1:
                for i in 0..<count { p0[i] = Float(src[i]) / 255 }
            case 2:
                let p1 = p0 + n
                for i in 0..<count { p0[i] = Float(src[2 * i]) / 255; p1[i] = Float(src[2 * i + 1]) / 255 }
            case 3:
                let p1 = p0 + n, p2 = p1 + n
                for i in 0..<count {
                    p0[i] = Float(src[3 * i]) / 255; p1[i] = Float(src[3 * i + 1]) / 255; p2[i] = Float(src[3 * i + 2]) / 255
                }
            default:
                let p1 = p0 + n, p2 = p1 + n, p3 = p2 + n
                for i in 0..<count {
                    p0[i] = Float(src[4 * i]) / 255; p1[i] = Float(src[4 * i + 1]) / 255
                    p2[i] = Float(src[4 * i + 2]) / 255; p3[i] = Float(src[4 * i + 3]) / 255
                }
            }
        }
        initialized = n * channels
    }
}

/// Decodes PNG bytes (any bit depth and colour type, interlaced or not) to an image with 1–4 channels.
func decodePNG(_ data: UnsafeBufferPointer<UInt8>, file: String, limits: ImageLimits) throws -> Image {
    var message = [CChar](repeating: 0, count: 256)
    var info = cc_image_info()
    var decoder: OpaquePointer? = nil
    defer { cc_png_close(decoder) }
    let status = cc_png_open(data.baseAddress, data.count, UInt64(max(0, limits.maxPixels)), &decoder, &info,
                             &message, message.count)
    if Int(status) != CC_OK {
        throw codecError(status, message: message, file: file, format: "PNG", info: info, limits: limits)
    }
    return try readPixels(file: file, format: "PNG", info: info, limits: limits) { pixels, rowBytes in
        cc_png_read(decoder, pixels, rowBytes, &message, message.count)
    } errorMessage: { message }
}

/// Decodes JPEG bytes to gray or RGB, then applies the EXIF orientation when asked.
func decodeJPEG(_ data: UnsafeBufferPointer<UInt8>, file: String, limits: ImageLimits, orient: Bool) throws -> Image {
    var message = [CChar](repeating: 0, count: 256)
    var info = cc_image_info()
    var decoder: OpaquePointer? = nil
    defer { cc_jpeg_close(decoder) }
    let status = cc_jpeg_open(data.baseAddress, data.count, UInt64(max(0, limits.maxPixels)), &decoder, &info,
                              &message, message.count)
    if Int(status) != CC_OK {
        throw codecError(status, message: message, file: file, format: "JPEG", info: info, limits: limits)
    }
    var orientation = 1
    if orient, let exif = info.exif, info.exif_length > 0 {
        orientation = Exif.orientation(tiff: UnsafeBufferPointer(start: exif, count: info.exif_length)) ?? 1
    }
    let image = try readPixels(file: file, format: "JPEG", info: info, limits: limits) { pixels, rowBytes in
        cc_jpeg_read(decoder, pixels, rowBytes, &message, message.count)
    } errorMessage: { message }
    return orientation == 1 ? image : image.applyingOrientation(orientation)
}

/// Checks the cap, allocates the interleaved buffer, runs `read`, and converts to planar floats.
private func readPixels(file: String, format: String, info: cc_image_info, limits: ImageLimits,
                        read: (UnsafeMutablePointer<UInt8>, Int) -> Int32,
                        errorMessage: () -> [CChar]) throws -> Image {
    let width = Int(info.width), height = Int(info.height), channels = Int(info.channels)
    let bytesPerSample = info.bit_depth == 16 ? 2 : 1
    guard width > 0, height > 0, (1...4).contains(channels) else {
        throw ImageError(.corrupt, file: file, reason: "\(format) header gives \(width)x\(height)x\(channels)")
    }
    let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
    guard !overflow, pixels <= limits.maxPixels else {
        throw ImageError(.tooLarge, file: file,
                         reason: "\(format) header says \(width)x\(height); limit is \(limits.maxPixels) pixels")
    }
    let rowBytes = width * channels * bytesPerSample
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: rowBytes * height, alignment: 16)
    defer { buffer.deallocate() }
    let status = read(buffer.assumingMemoryBound(to: UInt8.self), rowBytes)
    if Int(status) != CC_OK {
        throw codecError(status, message: errorMessage(), file: file, format: format, info: info, limits: limits)
    }
    let planes = planarFloats(from: buffer, width: width, height: height, channels: channels,
                              bitDepth: Int(info.bit_depth))
    return Image(uncheckedWidth: width, height: height, channels: channels, pixels: planes)
}
