import AtlasCore
import Foundation

/// Converts `TensorProto`s into `Constant`s: float types (float, float16, bfloat16, double) become Float32
/// tensors, integer and boolean types become `Int`s. Sizes are checked against the dims before anything is
/// allocated; external data is read from files next to the model, with bounds checks and no path escape.
public enum TensorDecoder {
    enum Kind { case float, int }

    /// (ONNX type code, bytes per element in raw_data, kind)
    static func layout(_ type: Int, tensor: String) throws -> (bytes: Int, kind: Kind) {
        switch type {
        case 1: return (4, .float)            // FLOAT
        case 10, 16: return (2, .float)       // FLOAT16, BFLOAT16
        case 11: return (8, .float)           // DOUBLE
        case 2, 3, 9: return (1, .int)        // UINT8, INT8, BOOL
        case 4, 5: return (2, .int)           // UINT16, INT16
        case 6, 12: return (4, .int)          // INT32, UINT32
        case 7, 13: return (8, .int)          // INT64, UINT64
        default: throw ModelError.unsupportedDataType(tensor: tensor, type: type)
        }
    }

    /// Decodes one tensor. `baseDirectory` is the model's directory (for external data); nil forbids external data.
    public static func decode(_ proto: Onnx_TensorProto, baseDirectory: String?) throws -> Constant {
        let name = proto.name
        let dims = proto.dims.map { Int($0) }
        let count = try ModelLimits.elementCount(dims, tensor: name)
        let type = Int(proto.dataType)
        let (size, kind) = try layout(type, tensor: name)
        let byteCount = count * size   // cannot overflow: count ≤ 2^32, size ≤ 8

        if proto.dataLocation == .external {
            let bytes = try readExternal(proto, byteCount: byteCount, baseDirectory: baseDirectory)
            return try fromRaw(bytes, type: type, dims: dims, count: count, kind: kind)
        }
        if proto.hasRawData {
            guard proto.rawData.count == byteCount else {
                throw ModelError.dataSizeMismatch(tensor: name, expected: byteCount, actual: proto.rawData.count)
            }
            return try fromRaw(proto.rawData, type: type, dims: dims, count: count, kind: kind)
        }
        func check(_ n: Int) throws {
            guard n == count else { throw ModelError.dataSizeMismatch(tensor: name, expected: count, actual: n) }
        }
        switch type {
        case 1:
            try check(proto.floatData.count)
            return Constant(shape: dims, floats: proto.floatData)
        case 11:
            try check(proto.doubleData.count)
            return Constant(shape: dims, floats: proto.doubleData.map { Float($0) })
        case 10, 16:
            try check(proto.int32Data.count)
            let bits = proto.int32Data.map { UInt16(truncatingIfNeeded: $0) }
            return Constant(shape: dims, floats: bits.map { type == 10 ? halfToFloat($0) : bfloatToFloat($0) })
        case 7:
            try check(proto.int64Data.count)
            return Constant(shape: dims, ints: proto.int64Data.map { Int($0) })
        case 12, 13:
            try check(proto.uint64Data.count)
            return Constant(shape: dims, ints: proto.uint64Data.map { Int(clamping: $0) })
        default: // int8/16/32, uint8/16, bool travel in int32_data
            try check(proto.int32Data.count)
            return Constant(shape: dims, ints: proto.int32Data.map { type == 9 ? ($0 != 0 ? 1 : 0) : Int($0) })
        }
    }

    /// Converts little-endian raw bytes (already size-checked).
    static func fromRaw(_ bytes: Data, type: Int, dims: [Int], count: Int, kind: Kind) throws -> Constant {
        if type == 1 {
            // Every element is written (the caller checked the byte count): no zero-fill first. Large tensors are
            // copied by all threads, which also share the first-touch page faults.
            let t = Tensor(uninitialized: dims)
            bytes.withUnsafeBytes { raw in
                guard let source = raw.baseAddress else { return }
                let target = UnsafeMutableRawPointer(t.data)
                Parallel.forRanges(count * 4, grain: 1 << 20) { r in
                    (target + r.lowerBound).copyMemory(from: source + r.lowerBound, byteCount: r.count)
                }
            }
            return Constant(t)
        }
        return bytes.withUnsafeBytes { raw -> Constant in
            switch kind {
            case .float:
                let t = Tensor(zeros: dims)
                let p = t.data
                for i in 0..<count {
                    switch type {
                    case 10: p[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    case 16: p[i] = bfloatToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    default: p[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                    }
                }
                return Constant(t)
            case .int:
                var v = [Int](repeating: 0, count: count)
                for i in 0..<count {
                    switch type {
                    case 2: v[i] = Int(raw[i])
                    case 3: v[i] = Int(Int8(bitPattern: raw[i]))
                    case 9: v[i] = raw[i] != 0 ? 1 : 0
                    case 4: v[i] = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    case 5: v[i] = Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
                    case 6: v[i] = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                    case 12: v[i] = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case 13: v[i] = Int(clamping: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                    default: v[i] = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                    }
                }
                return Constant(shape: dims, ints: v)
            }
        }
    }

    /// Reads `byteCount` bytes of external data: `location` relative to the model directory, never escaping it.
    static func readExternal(_ proto: Onnx_TensorProto, byteCount: Int, baseDirectory: String?) throws -> Data {
        let name = proto.name
        func fail(_ reason: String) -> ModelError { .externalData(tensor: name, reason: reason) }
        var location: String?
        var offset = 0
        var length: Int?
        for entry in proto.externalData {
            switch entry.key {
            case "location": location = entry.value
            case "offset":
                guard let v = Int(entry.value), v >= 0 else { throw fail("invalid offset '\(entry.value)'") }
                offset = v
            case "length":
                guard let v = Int(entry.value), v >= 0 else { throw fail("invalid length '\(entry.value)'") }
                length = v
            default: break
            }
        }
        guard let baseDirectory else { throw fail("the model was not read from a file, so external data cannot be located") }
        guard let location, !location.isEmpty else { throw fail("no location") }
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !location.hasPrefix("/"), !location.contains("\\"), !location.contains("\0"),
              !parts.contains(where: { $0 == ".." }) else {
            throw fail("location '\(location)' leaves the model directory")
        }
        if let length, length != byteCount {
            throw ModelError.dataSizeMismatch(tensor: name, expected: byteCount, actual: length)
        }
        let path = (baseDirectory as NSString).appendingPathComponent(location)
        // Symbolic links must not lead out of the model directory either.
        let resolvedBase = URL(fileURLWithPath: baseDirectory).resolvingSymlinksInPath().standardizedFileURL.path
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved.hasPrefix(resolvedBase.hasSuffix("/") ? resolvedBase : resolvedBase + "/") else {
            throw fail("location '\(location)' leaves the model directory")
        }
        guard let handle = FileHandle(forReadingAtPath: resolved) else { throw fail("cannot open '\(location)'") }
        defer { try? handle.close() }
        let fileSize: UInt64
        do { fileSize = try handle.seekToEnd() } catch { throw fail("cannot read '\(location)': \(error)") }
        let (end, overflow) = offset.addingReportingOverflow(byteCount)
        guard !overflow, UInt64(end) <= fileSize else {
            throw fail("bytes \(offset)..<\(offset &+ byteCount) lie outside '\(location)' (\(fileSize) bytes)")
        }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: byteCount) ?? Data()
            guard data.count == byteCount else { throw fail("short read from '\(location)'") }
            return data
        } catch let e as ModelError {
            throw e
        } catch {
            throw fail("cannot read '\(location)': \(error)")
        }
    }

    /// IEEE half → Float.
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f)
        let frac = UInt32(h & 0x3ff)
        if exp == 0 {
            let magnitude = Float(frac) * 0x1p-24   // subnormal or zero
            return sign != 0 ? -magnitude : magnitude
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (frac << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (frac << 13))
    }

    /// bfloat16 → Float.
    public static func bfloatToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
}
