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

/// 1/255 steps as a table, so decode and `Float(k) / 255` agree bit for bit.
let unitFromByte: [Float] = (0..<256).map { Float($0) / 255 }

/// Interleaved 8- or 16-bit samples (host order) → planar Float32 in [0, 1].
func planarFloats(from raw: UnsafeRawPointer, width: Int, height: Int, channels: Int, bitDepth: Int) -> [Float] {
    let n = width * height
    return [Float](unsafeUninitializedCapacity: n * channels) { buffer, initialized in
        let dst = buffer.baseAddress!
        unitFromByte.withUnsafeBufferPointer { lutBuffer in
            let lut = lutBuffer.baseAddress!
            Parallel.forRanges(height, grain: max(1, 32768 / max(width, 1))) { rows in
                for y in rows {
                    let rowStart = y * width
                    if bitDepth == 16 {
                        let src = raw.assumingMemoryBound(to: UInt16.self) + rowStart * channels
                        for c in 0..<channels {
                            let d = dst + c * n + rowStart
                            for x in 0..<width { d[x] = Float(src[x * channels + c]) / 65535 }
                        }
                    } else {
                        let src = raw.assumingMemoryBound(to: UInt8.self) + rowStart * channels
                        if channels == 3 {
                            let r = dst + rowStart, g = r + n, b = g + n
                            for x in 0..<width {
                                r[x] = lut[Int(src[3 * x])]
                                g[x] = lut[Int(src[3 * x + 1])]
                                b[x] = lut[Int(src[3 * x + 2])]
                            }
                        } else {
                            for c in 0..<channels {
                                let d = dst + c * n + rowStart
                                for x in 0..<width { d[x] = lut[Int(src[x * channels + c])] }
                            }
                        }
                    }
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
