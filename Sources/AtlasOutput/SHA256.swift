/// SHA-256 (FIPS 180-4), used to record which model file produced an output folder.
import CKernels
import Foundation

/// SHA-256 digests of bytes and files.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func digest<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        if let d = bytes.withContiguousStorageIfAvailable({ digest(UnsafeRawBufferPointer($0), portable: false) }) { return d }
        return Array(bytes).withUnsafeBytes { digest($0, portable: false) }
    }

    /// The digest of `bytes`: whole blocks straight from the buffer (the CPU's SHA extensions where it has them, or
    /// with `portable` the C fallback everywhere), then the padded tail.
    public static func digest(_ bytes: UnsafeRawBufferPointer, portable: Bool) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        let whole = bytes.count / 64
        let compress = portable ? ck_sha256_blocks_portable : ck_sha256_blocks
        if whole > 0, let base = bytes.baseAddress {
            compress(&h, base.assumingMemoryBound(to: UInt8.self), whole)
        }
        var tail = Array(bytes[(whole * 64)...])
        let bitLength = UInt64(bytes.count) &* 8
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        compress(&h, tail, tail.count / 64)
        return h.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
    }

    /// Lower-case hex digest of `bytes`.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        digest(bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// Lower-case hex digest of a file's contents, or nil when it cannot be read.
    public static func hex(file path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return hex(data)
    }
}

/// The one encoding of a job's settings that keys and fingerprints derive from: JSON with sorted keys, no
/// whitespace and `/` unescaped, so equal values give equal bytes.
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// SHA-256 (hex) of the canonical JSON of `value`.
    public static func sha256<T: Encodable>(_ value: T) throws -> String { SHA256.hex(try encode(value)) }
}
