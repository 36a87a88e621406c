#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way Atlas writes a file that must never be seen half-written: the bytes go to a fresh temporary sibling
/// (`mkstemp`), which is made 0644, flushed to disk with `fsync` (unless `durable` is false) and renamed over the path,
/// so a reader (or a resumed job) finds the old file or the whole new one. Pyramid tiles pass `durable: false`: the
/// index that names them is written durably after them, and a rerun rebuilds any tile that a crash lost.
public enum AtomicFile {
    /// Why a write failed: the path and the system's words.
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String, durable: Bool = true) throws(WriteError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw WriteError(path: path, reason: "no file name") }
        var template = Array("\(directory.isEmpty ? "/" : directory)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 { throw WriteError(path: path, reason: "cannot create a temporary file: \(text(errno))") }
        let temp = String(cString: template)
        var failure: String? = nil
        var done = 0
        while done < bytes.count, let start = bytes.baseAddress {
            let wrote = posixWrite(fd, start + done, bytes.count - done)
            if wrote < 0 {
                if errno == EINTR { continue }
                failure = text(errno)
                break
            }
            done += wrote
        }
        if failure == nil && fchmod(fd, 0o644) != 0 { failure = text(errno) }
        if failure == nil && durable && fsync(fd) != 0 { failure = text(errno) }
        if close(fd) != 0 && failure == nil { failure = text(errno) }
        if failure == nil && rename(temp, path) != 0 { failure = text(errno) }
        if let failure {
            unlink(temp)
            throw WriteError(path: path, reason: failure)
        }
    }

    public static func write(_ bytes: [UInt8], to path: String, durable: Bool = true) throws(WriteError) {
        let result: Result<Void, WriteError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(WriteError) in try write(buffer, to: path, durable: durable) }
        }
        try result.get()
    }

    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// write(2), out of reach of `AtomicFile.write` inside the enum.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
