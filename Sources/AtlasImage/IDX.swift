/// IDX files (the MNIST / Fashion-MNIST format), optionally gzip-compressed: unsigned-byte image stacks
/// `[count, height, width]` and label vectors `[count]`. The embedded default sample ships this way, and every
/// command that takes images accepts an IDX image file as an input (each image is named `FILE#INDEX`).
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CCodecs

public enum IDX {
    /// Decompressed IDX data larger than this is refused (1 GiB).
    public static let maxBytes = 1 << 30

    /// True when `path` holds an IDX unsigned-byte array (gzip or plain), judged from its name and bytes.
    public static func looksLikeIDX(_ path: String) -> Bool {
        let lower = path.lowercased()
        guard lower.contains("idx") || lower.hasSuffix(".ubyte") || lower.hasSuffix(".ubyte.gz") else { return false }
        // A plain file: its first bytes; gzip: decompressed whole (IDX files are read whole then anyway).
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        var head = [UInt8](repeating: 0, count: 8)
        let got = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 8, 0) }
        close(fd)
        guard got >= 2 else { return false }
        let bytes = head[0] == 0x1f && head[1] == 0x8b ? ((try? read(path)) ?? []) : Array(head.prefix(max(0, got)))
        guard bytes.count >= 8 else { return false }
        return bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08 && bytes[3] >= 1 && bytes[3] <= 4
    }

    /// Images of a 3-D IDX file as 1-channel `Image`s in [0, 1], at most `limit` of them.
    public static func images(_ path: String, limit: Int? = nil) throws -> [Image] {
        let (dims, offset, bytes) = try array(path)
        guard dims.count == 3 else {
            throw ImageError(.unsupported, file: path, reason: "IDX array has \(dims.count) dimensions, expected 3 (count, height, width)")
        }
        let count = min(dims[0], limit ?? dims[0]), h = dims[1], w = dims[2]
        return try (0..<count).map { i in
            let start = offset + i * h * w
            return try Image(width: w, height: h, channels: 1,
                             pixels: bytes[start ..< start + h * w].map { Float($0) * (1 / 255) })
        }
    }

    /// The labels of a 1-D IDX file.
    public static func labels(_ path: String) throws -> [Int] {
        let (dims, offset, bytes) = try array(path)
        guard dims.count == 1 else {
            throw ImageError(.unsupported, file: path, reason: "IDX array has \(dims.count) dimensions, expected 1 (labels)")
        }
        return bytes[offset ..< offset + dims[0]].map { Int($0) }
    }

    /// Dimensions, data offset and bytes of an unsigned-byte IDX file, with the sizes checked against the data.
    static func array(_ path: String) throws -> (dims: [Int], offset: Int, bytes: [UInt8]) {
        let bytes = try read(path)
        guard bytes.count >= 4 else { throw ImageError(.truncated, file: path, reason: "IDX header is cut short") }
        guard bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08 else {
            throw ImageError(.notAnImage, file: path, reason: "not an unsigned-byte IDX file")
        }
        let rank = Int(bytes[3])
        guard (1...4).contains(rank), bytes.count >= 4 + 4 * rank else {
            throw ImageError(.corrupt, file: path, reason: "IDX header declares \(rank) dimensions")
        }
        var dims: [Int] = []
        var total = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dims.append(v)
            total = total.multipliedReportingOverflow(by: max(v, 1)).partialValue
        }
        let offset = 4 + 4 * rank
        guard total <= bytes.count - offset else {
            throw ImageError(.truncated, file: path, reason: "IDX header declares \(dims) but the file holds \(bytes.count - offset) bytes")
        }
        return (dims, offset, bytes)
    }

    static func read(_ path: String) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = cc_gz_read_file(path, maxBytes, &out, &length, &message, message.count)
        defer { cc_free(out) }
        let text = String(cString: message)
        switch Int(status) {
        case Int(CC_OK): return Array(UnsafeBufferPointer(start: out, count: length))
        case Int(CC_ERR_TRUNCATED): throw ImageError(.truncated, file: path, reason: text)
        case Int(CC_ERR_LIMIT): throw ImageError(.tooLarge, file: path, reason: text)
        case Int(CC_ERR_ARGUMENT): throw ImageError(.notFound, file: path, reason: text)
        default: throw ImageError(.corrupt, file: path, reason: text.isEmpty ? "read error" : text)
        }
    }
}

/// The images of a 3-D IDX file, decoded one at a time on demand, so a stack costs memory independent of its image
/// count when the file is plain: each image is read from the file (`pread`, safe from any thread). A gzip file
/// cannot be read at an offset, so it is held decompressed (one byte per pixel, a quarter of the decoded images).
public final class IDXStack: @unchecked Sendable {
    public let path: String
    /// Images used (the file's count, at most the limit) and their size.
    public let count: Int
    public let height: Int
    public let width: Int
    private let offset: Int
    private let bytes: [UInt8]?
    private let fd: Int32

    /// Opens `path`, checking its header against its size; at most `limit` images.
    public init(_ path: String, limit: Int? = nil) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ImageError(.notFound, file: path, reason: "cannot open the file") }
        var head = [UInt8](repeating: 0, count: 16)
        let got = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 16, 0) }
        let plain = got >= 4 && !(head[0] == 0x1f && head[1] == 0x8b)
        if plain, got == 16, head[0] == 0, head[1] == 0, head[2] == 0x08, head[3] == 3 {
            let dim = { (o: Int) in Int(head[o]) << 24 | Int(head[o + 1]) << 16 | Int(head[o + 2]) << 8 | Int(head[o + 3]) }
            let (n, h, w) = (dim(4), dim(8), dim(12))
            var info = stat()
            guard fstat(fd, &info) == 0, h > 0, w > 0, Int(info.st_size) - 16 >= n * h * w else {
                close(fd)
                throw ImageError(.truncated, file: path, reason: "IDX header declares [\(n), \(h), \(w)] but the file is shorter")
            }
            self.fd = fd; bytes = nil; offset = 16
            count = min(n, limit ?? n); height = h; width = w
            return
        }
        close(fd)
        // Gzip (or an unusual header): the whole array, checked as IDX.images checks it.
        let (dims, offset, bytes) = try IDX.array(path)
        guard dims.count == 3 else {
            throw ImageError(.unsupported, file: path, reason: "IDX array has \(dims.count) dimensions, expected 3 (count, height, width)")
        }
        self.fd = -1; self.bytes = bytes; self.offset = offset
        count = min(dims[0], limit ?? dims[0]); height = dims[1]; width = dims[2]
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Image `i` as a 1-channel `Image` in [0, 1].
    public func image(_ i: Int) throws -> Image {
        let size = height * width, start = offset + i * size
        var raw = [UInt8](repeating: 0, count: size)
        if let bytes {
            raw.withUnsafeMutableBufferPointer { dst in bytes.withUnsafeBufferPointer { dst.baseAddress!.update(from: $0.baseAddress! + start, count: size) } }
        } else {
            let got = raw.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, off_t(start)) }
            guard got == size else { throw ImageError(.truncated, file: "\(path)#\(i)", reason: "read \(got) of \(size) bytes") }
        }
        return try Image(width: width, height: height, channels: 1, pixels: raw.map { Float($0) * (1 / 255) })
    }
}
