/// File helpers of the pyramid writer: `mkdir -p` and atomic writes without fsync (a temporary dot-file in the
/// same folder, renamed over the final name), so an interrupted run never leaves a partial tile under a tile's
/// name. Durability against power loss is not the goal for thousands of tiles; the final name is.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum TileFiles {
    /// Creates `path` and its missing parents (like `mkdir -p`).
    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw ImageError(.writeFailed, file: current, reason: "cannot create the folder: \(errnoText(errno))")
            }
        }
        var st = stat()
        guard stat(path.isEmpty ? "." : path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw ImageError(.writeFailed, file: path, reason: "not a folder")
        }
    }

    /// Writes `count` bytes to `path` through `.<name>.tmp-<pid>` in the same folder and `rename(2)`.
    static func writeAtomically(_ bytes: UnsafeRawPointer, count: Int, to path: String) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temp = "\(directory)/.\(name).tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw ImageError(.writeFailed, file: path, reason: "cannot create \(temp): \(errnoText(errno))") }
        var failure: String? = nil
        var done = 0
        while done < count {
            let wrote = write(fd, bytes + done, count - done)
            if wrote < 0 {
                if errno == EINTR { continue }
                failure = errnoText(errno)
                break
            }
            done += wrote
        }
        if close(fd) != 0 && failure == nil { failure = errnoText(errno) }
        if failure == nil && rename(temp, path) != 0 { failure = errnoText(errno) }
        if let failure {
            unlink(temp)
            throw ImageError(.writeFailed, file: path, reason: failure)
        }
    }
}
