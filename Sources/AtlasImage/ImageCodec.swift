/// `ImageCodec`: PNG/JPEG decoding (format sniffed from the bytes, never the extension) and encoding, to
/// memory or to files written atomically. All failures are typed `ImageError`s naming the file.
import CCodecs
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image file formats AtlasImage reads and writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png
    case jpeg

    /// The format whose signature starts `bytes`: PNG `89 50 4E 47 0D 0A 1A 0A`, JPEG `FF D8 FF`.
    public static func sniff<C: Collection>(_ bytes: C) -> ImageFormat? where C.Element == UInt8 {
        let head = Array(bytes.prefix(8))
        if head.count >= 8 && head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if head.count >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF { return .jpeg }
        return nil
    }

    /// The format a file name's extension suggests (`png`, `jpg`, `jpeg`, `jpe`; case-insensitive).
    public init?(pathExtension path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "png": self = .png
        case "jpg", "jpeg", "jpe": self = .jpeg
        default: return nil
        }
    }
}

/// How decoded images are shaped.
public struct DecodeOptions: Sendable, Equatable {
    /// Output channel layout; nil keeps the file's (gray, gray+alpha, RGB or RGBA).
    public var layout: ChannelLayout?
    /// How alpha is removed when `layout` has none.
    public var alpha: AlphaHandling
    /// Apply the EXIF orientation of JPEGs (default true).
    public var applyOrientation: Bool
    /// Allocation caps; nil uses `ImageLimits.current`.
    public var limits: ImageLimits?

    public init(layout: ChannelLayout? = nil, alpha: AlphaHandling = .drop, applyOrientation: Bool = true,
                limits: ImageLimits? = nil) {
        self.layout = layout
        self.alpha = alpha
        self.applyOrientation = applyOrientation
        self.limits = limits
    }

    /// Always 3 channels (gray replicated, alpha dropped): what networks want.
    public static let rgb = DecodeOptions(layout: .rgb)
}

/// PNG row filters libpng may choose from (it picks per row among the allowed ones).
public struct PNGFilter: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let none = PNGFilter(rawValue: Int32(CC_PNG_FILTER_NONE))
    public static let sub = PNGFilter(rawValue: Int32(CC_PNG_FILTER_SUB))
    public static let up = PNGFilter(rawValue: Int32(CC_PNG_FILTER_UP))
    public static let average = PNGFilter(rawValue: Int32(CC_PNG_FILTER_AVG))
    public static let paeth = PNGFilter(rawValue: Int32(CC_PNG_FILTER_PAETH))
    /// All five (libpng's adaptive default; best size, slowest).
    public static let all: PNGFilter = [.none, .sub, .up, .average, .paeth]
    /// SUB and UP: a good size/speed trade-off for large images.
    public static let fast: PNGFilter = [.none, .sub, .up]
}

/// JPEG chroma subsampling (ignored for gray images).
public enum JPEGSubsampling: Int32, Sendable {
    case none444 = 444
    case horizontal422 = 422
    case both420 = 420
}

/// Decoding and encoding entry points.
public enum ImageCodec {
    /// Decodes PNG or JPEG bytes (format sniffed). `name` is used in errors.
    public static func decode(_ data: [UInt8], name: String = "<memory>", options: DecodeOptions = .init()) throws -> Image {
        try data.withUnsafeBufferPointer { try decode(buffer: $0, name: name, options: options) }
    }

    /// Decodes bytes in place (no copy).
    public static func decode(buffer: UnsafeBufferPointer<UInt8>, name: String = "<memory>",
                              options: DecodeOptions = .init()) throws -> Image {
        let limits = options.limits ?? ImageLimits.current
        if buffer.isEmpty { throw ImageError(.empty, file: name, reason: "0 bytes") }
        guard let format = ImageFormat.sniff(buffer) else {
            let head = buffer.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            throw ImageError(.notAnImage, file: name, reason: "no PNG or JPEG signature (starts with \(head))")
        }
        var image: Image
        switch format {
        case .png: image = try decodePNG(buffer, file: name, limits: limits)
        case .jpeg: image = try decodeJPEG(buffer, file: name, limits: limits, orient: options.applyOrientation)
        }
        if let layout = options.layout { image = image.converted(to: layout, alpha: options.alpha) }
        return image
    }

    /// Reads and decodes a file.
    public static func decode(file path: String, options: DecodeOptions = .init()) throws -> Image {
        let bytes = try readFile(path, limits: options.limits ?? ImageLimits.current)
        return try decode(bytes, name: path, options: options)
    }

    /// Encodes as 8-bit PNG (gray, gray+alpha, RGB or RGBA as the image has). `level` is zlib's 0–9.
    public static func encodePNG(_ image: Image, level: Int = 6, filter: PNGFilter = .all) throws -> [UInt8] {
        guard (0...9).contains(level), !filter.isEmpty else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "PNG level \(level) (0–9), filters \(filter.rawValue)")
        }
        let bytes = image.interleavedBytes()
        return try collect(format: "PNG") { out, size, message in
            cc_png_encode(bytes, UInt32(image.width), UInt32(image.height), Int32(image.channels), Int32(level),
                          filter.rawValue, out, size, message, 256)
        }
    }

    /// Encodes as baseline JPEG, `quality` 1–100. Alpha is removed first according to `alpha`.
    public static func encodeJPEG(_ image: Image, quality: Int = 90, subsampling: JPEGSubsampling = .both420,
                                  alpha: AlphaHandling = .drop) throws -> [UInt8] {
        guard (1...100).contains(quality) else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "JPEG quality \(quality) (1–100)")
        }
        let flat = image.hasAlpha ? image.converted(to: image.channels == 2 ? .gray : .rgb, alpha: alpha) : image
        let bytes = flat.interleavedBytes()
        return try collect(format: "JPEG") { out, size, message in
            cc_jpeg_encode(bytes, UInt32(flat.width), UInt32(flat.height), Int32(flat.channels), Int32(quality),
                           subsampling.rawValue, out, size, message, 256)
        }
    }

    /// Encodes and writes atomically; the format is `format` or, when nil, the path's extension.
    public static func write(_ image: Image, to path: String, format: ImageFormat? = nil, pngLevel: Int = 6,
                             pngFilter: PNGFilter = .all, jpegQuality: Int = 90,
                             jpegSubsampling: JPEGSubsampling = .both420) throws {
        guard let format = format ?? ImageFormat(pathExtension: path) else {
            throw ImageError(.invalidArgument, file: path, reason: "cannot tell the format from the extension")
        }
        let bytes: [UInt8]
        switch format {
        case .png: bytes = try encodePNG(image, level: pngLevel, filter: pngFilter)
        case .jpeg: bytes = try encodeJPEG(image, quality: jpegQuality, subsampling: jpegSubsampling)
        }
        try writeAtomically(bytes, to: path)
    }

    /// Runs a shim encoder and copies its malloc'd output into an array.
    private static func collect(format: String,
                                _ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                           UnsafeMutablePointer<CChar>) -> Int32) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { encode(&output, &size, $0.baseAddress!) }
        defer { cc_free(output) }
        guard Int(status) == CC_OK, let output else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError(Int(status) == CC_ERR_ARGUMENT ? .invalidArgument : .encodeFailed,
                             file: "<memory>", reason: "\(format): \(text)")
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
