/// File input/output for images with POSIX calls: reading whole files with typed errors (missing, directory,
/// unreadable, empty, over the size cap) and writing atomically (temporary file in the same directory,
/// fsync, rename), so a crash never leaves a half-written image under the final name.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ImageCodec {
    /// The whole content of a regular file, checked against `limits.maxFileBytes`.
    public static func readFile(_ path: String, limits: ImageLimits = ImageLimits.current) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw ImageError(code == ENOENT ? .notFound : code == EISDIR ? .isDirectory : .unreadable,
                             file: path, reason: errnoText(code))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ImageError(.unreadable, file: path, reason: errnoText(errno)) }
        let type = st.st_mode & S_IFMT
        if type == S_IFDIR { throw ImageError(.isDirectory, file: path, reason: "a directory, not an image file") }
        guard type == S_IFREG else { throw ImageError(.unreadable, file: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 { throw ImageError(.empty, file: path, reason: "0 bytes") }
        guard size <= limits.maxFileBytes else {
            throw ImageError(.tooLarge, file: path, reason: "\(size) bytes; limit is \(limits.maxFileBytes) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let got = read(fd, buffer.baseAddress! + done, size - done)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw ImageError(.unreadable, file: path, reason: errnoText(errno))
                }
                if got == 0 { break }
                done += got
            }
        }
        if done < size { bytes.removeLast(size - done) }  // the file shrank while being read
        return bytes
    }

    /// Writes `bytes` to `path` atomically: a temporary sibling file is written, flushed and renamed over `path`.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw ImageError(.invalidArgument, file: path, reason: "no file name") }
        var template = Array("\(directory.isEmpty ? "/" : directory)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 { throw ImageError(.writeFailed, file: path, reason: "cannot create a temporary file: \(errnoText(errno))") }
        let temp = String(cString: template)
        var failure: String? = nil
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let wrote = posixWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                if wrote < 0 {
                    if errno == EINTR { continue }
                    failure = errnoText(errno)
                    return
                }
                done += wrote
            }
        }
        if failure == nil && fchmod(fd, 0o644) != 0 { failure = errnoText(errno) }
        if failure == nil && fsync(fd) != 0 { failure = errnoText(errno) }
        if close(fd) != 0 && failure == nil { failure = errnoText(errno) }
        if failure == nil && rename(temp, path) != 0 { failure = errnoText(errno) }
        if let failure {
            unlink(temp)
            throw ImageError(.writeFailed, file: path, reason: failure)
        }
    }
}

/// POSIX write(2), out of reach of `ImageCodec.write` inside the extension.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// `strerror` text for an errno value.
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
