/// SHA-256 (FIPS 180-4), used to record which model file produced an output folder.
import CKernels
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Lower-case hex digest of a file's contents, or nil when it cannot be read. A digest `prefetch(file:)` started
    /// for the same path is waited for and used while the file's size, modification time and inode are unchanged.
    public static func hex(file path: String) -> String? {
        let started = prefetched.withLock { $0[path] }
        if let started, started.stamp == FileStamp(path) {
            started.done.wait()
            return started.value
        }
        return readAndHash(path)
    }

    /// Starts hashing a file on another thread, for a later `hex(file:)`: a command that records its model's digest
    /// calls it before loading the model, so the hash overlaps the (single-threaded) parse instead of following it.
    public static func prefetch(file path: String) {
        guard let stamp = FileStamp(path) else { return }
        let started = Prefetched(stamp: stamp)
        prefetched.withLock { $0[path] = started }
        DispatchQueue.global(qos: .userInitiated).async {
            started.value = readAndHash(path)
            started.done.leave()
        }
    }

    /// Maps the file rather than copying it into memory (reads it where it cannot be mapped, an empty file say).
    static func readAndHash(_ path: String) -> String? {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)) ?? FileManager.default.contents(atPath: path)
        return data.map { hex($0) }
    }

    private final class Prefetched: @unchecked Sendable {
        let stamp: FileStamp
        /// Entered until `value` is set.
        let done = DispatchGroup()
        var value: String?
        init(stamp: FileStamp) {
            self.stamp = stamp
            done.enter()
        }
    }
    private static let prefetched = Mutex<[String: Prefetched]>([:])

    /// What tells a file's contents changed without reading them.
    private struct FileStamp: Equatable {
        let size: Int64, seconds: Int, nanoseconds: Int, inode: UInt64
        init?(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            size = Int64(st.st_size)
            #if canImport(Darwin)
            seconds = Int(st.st_mtimespec.tv_sec)
            nanoseconds = Int(st.st_mtimespec.tv_nsec)
            #else
            seconds = Int(st.st_mtim.tv_sec)
            nanoseconds = Int(st.st_mtim.tv_nsec)
            #endif
            inode = UInt64(st.st_ino)
        }
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
