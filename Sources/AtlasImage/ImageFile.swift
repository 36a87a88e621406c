/// File input/output for images with POSIX calls: reading whole files with typed errors (missing, directory,
/// unreadable, empty, over the size cap) and writing atomically (temporary file in the same directory,
/// fsync, rename), so a crash never leaves a half-written image under the final name.
import AtlasCore
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

    /// Writes `bytes` to `path` atomically and durably (`AtomicFile`).
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        do { try AtomicFile.write(bytes, to: path) } catch {
            throw ImageError(.writeFailed, file: path, reason: error.reason)
        }
    }
}

/// `strerror` text for an errno value.
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
