import AtlasCore
import Foundation

/// NumPy `.npy` files holding C-order Float32 arrays (format versions 1–3 read, 1.0 written). Float64
/// arrays are read too and converted to Float32.
public enum NPY {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        /// The file to read does not exist.
        case notFound(path: String)
        /// The file exists but cannot be read.
        case io(path: String, reason: String)
        /// The file cannot be written.
        case writeFailed(path: String, reason: String)
        case format(String)
        public var description: String {
            switch self {
            case let .notFound(path): return "\(path) not found"
            case let .io(path, reason): return "cannot read \(path): \(reason)"
            case let .writeFailed(path, reason): return "cannot write \(path): \(reason)"
            case let .format(what): return "not a supported .npy file: \(what)"
            }
        }
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // \x93NUMPY

    /// Reads a file.
    public static func read(path: String) throws -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            if !FileManager.default.fileExists(atPath: path) { throw Error.notFound(path: path) }
            throw Error.io(path: path, reason: "\(error)")
        }
        return try decode(data)
    }

    /// Parses `.npy` bytes.
    public static func decode(_ data: Data) throws -> Tensor {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw Error.format("missing \\x93NUMPY magic") }
        let major = bytes[6]
        let headerLength: Int, start: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw Error.format("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        default: throw Error.format("format version \(major)")
        }
        guard data.count >= start + headerLength else { throw Error.format("truncated header") }
        let header = String(decoding: data[data.startIndex + start ..< data.startIndex + start + headerLength], as: UTF8.self)
        guard let descr = field(header, "descr"), let order = field(header, "fortran_order"), let shapeText = field(header, "shape") else {
            throw Error.format("header without descr, fortran_order and shape: \(header)")
        }
        guard order.hasPrefix("False") else { throw Error.format("Fortran-order arrays are not supported") }
        let type = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        guard type == "<f4" || type == "<f8" else { throw Error.format("element type \(type) (need <f4 or <f8)") }
        guard shapeText.hasPrefix("("), let close = shapeText.firstIndex(of: ")") else { throw Error.format("bad shape \(shapeText)") }
        let dims = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let n = Int(d), n >= 0 else { throw Error.format("bad dimension '\(d)'") }
            shape.append(n)
        }
        let count: Int
        do { count = try ModelLimits.elementCount(shape, tensor: "npy") } catch { throw Error.format("shape \(shape) is too large") }
        let size = type == "<f4" ? 4 : 8
        let offset = start + headerLength
        guard data.count - offset == count * size else {
            throw Error.format("\(data.count - offset) data bytes for shape \(shape) of \(type) (need \(count * size))")
        }
        let t = Tensor(zeros: shape)
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + offset
            if size == 4 {
                for i in 0..<count { t.data[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            } else {
                for i in 0..<count {
                    t.data[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
        }
        return t
    }

    /// The value text of `'key': value` in a header dict (up to the next top-level comma or brace).
    static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        let rest = header[r.upperBound...].drop(while: { $0 == " " })
        var depth = 0
        var end = rest.endIndex
        for i in rest.indices {
            let ch = rest[i]
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if depth == 0 && (ch == "," || ch == "}") { end = i; break }
            if depth < 0 { end = i; break }
        }
        return String(rest[..<end])
    }

    /// `.npy` (version 1.0, little-endian Float32, C order) bytes of a tensor.
    public static func encode(_ t: Tensor) -> Data {
        let dims = t.shape.map(String.init).joined(separator: ", ")
        let shape = t.shape.count == 1 ? "(\(dims),)" : "(\(dims))"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic + [1, 0])
        let n = header.utf8.count
        data.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        data.append(contentsOf: Array(header.utf8))
        var le = [UInt32](repeating: 0, count: t.count)
        for i in 0..<t.count { le[i] = t.data[i].bitPattern.littleEndian }
        le.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Writes a tensor atomically and durably (`AtomicFile`).
    public static func write(_ t: Tensor, path: String) throws {
        do { try AtomicFile.write([UInt8](encode(t)), to: path) } catch {
            throw Error.writeFailed(path: path, reason: error.reason)
        }
    }
}
