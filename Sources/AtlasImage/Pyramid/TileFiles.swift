/// File helpers of the pyramid writer: `mkdir -p` and atomic writes without fsync (a temporary dot-file in the
/// same folder, renamed over the final name), so an interrupted run never leaves a partial tile under a tile's
/// name. Durability against power loss is not the goal for thousands of tiles; the final name is.
import AtlasCore
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

    /// Writes `count` bytes to `path` atomically, without waiting for the disk (`AtomicFile`, `durable: false`).
    static func writeAtomically(_ bytes: UnsafeRawPointer, count: Int, to path: String) throws {
        do { try AtomicFile.write(UnsafeRawBufferPointer(start: bytes, count: count), to: path, durable: false) } catch {
            throw ImageError(.writeFailed, file: path, reason: error.reason)
        }
    }
}
