import Foundation

/// Reads direction vectors for objectives: NumPy `.npy` files (little-endian float32/float64, any shape, flattened
/// in C order) or text files of numbers separated by whitespace or commas.
public enum VectorFile {
    public static func load(_ path: String) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ObjectiveError.vectorFile(path: path, message: "cannot open the file")
        }
        if path.lowercased().hasSuffix(".npy") { return try npy(data, path: path) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ObjectiveError.vectorFile(path: path, message: "not UTF-8 text")
        }
        let fields = text.split(whereSeparator: { $0.isWhitespace || $0 == "," })
        var out = [Float]()
        out.reserveCapacity(fields.count)
        for f in fields {
            guard let v = Float(f), v.isFinite else { throw ObjectiveError.vectorFile(path: path, message: "'\(f)' is not a number") }
            out.append(v)
        }
        if out.isEmpty { throw ObjectiveError.vectorFile(path: path, message: "no numbers") }
        return out
    }

    /// Decodes a `.npy` payload.
    public static func npy(_ data: Data, path: String = "<npy>") throws -> [Float] {
        let bytes = [UInt8](data)
        func bad(_ m: String) -> ObjectiveError { .vectorFile(path: path, message: m) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw bad("not a .npy file") }
        let major = bytes[6]
        let headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else if major == 2 || major == 3, bytes.count >= 12 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        } else { throw bad("unsupported .npy version \(major)") }
        guard start + headerLen <= bytes.count, let header = String(bytes: bytes[start..<(start + headerLen)], encoding: .ascii) else {
            throw bad("truncated header")
        }
        let compact = header.replacingOccurrences(of: " ", with: "")
        if compact.contains("'fortran_order':True") { throw bad("Fortran-ordered arrays are not supported") }
        let width: Int
        if compact.contains("'descr':'<f4'") || compact.contains("'descr':'|f4'") { width = 4 } else if compact.contains("'descr':'<f8'") {
            width = 8
        } else { throw bad("only little-endian float32/float64 arrays are supported") }
        guard let open = compact.range(of: "'shape':("), let close = compact[open.upperBound...].firstIndex(of: ")") else {
            throw bad("no shape in header")
        }
        let dims = compact[open.upperBound..<close].split(separator: ",").map { Int($0) }
        guard dims.allSatisfy({ $0 != nil && $0! >= 0 }) else { throw bad("bad shape") }
        let count = dims.reduce(1) { $0 * $1! }
        let body = start + headerLen
        guard count > 0, count <= (bytes.count - body) / width else { throw bad("data shorter than shape \(dims.map { $0! })") }
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count {
            var bits: UInt64 = 0
            for b in 0..<width { bits |= UInt64(bytes[body + i * width + b]) << (8 * UInt64(b)) }
            out[i] = width == 4 ? Float(bitPattern: UInt32(truncatingIfNeeded: bits)) : Float(Double(bitPattern: bits))
        }
        return out
    }
}
