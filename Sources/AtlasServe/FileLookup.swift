/// `FileLookup`: the blocking half of a request (run on the server's thread pool, never on an event loop):
/// resolve a validated `RequestPath` with `realpath`, refuse anything whose real path leaves the root (symlinks
/// pointing out), and open regular files for streaming.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An opened regular file: the descriptor (owned by whoever receives it) and what the caching headers need.
public struct OpenedFile: Sendable {
    public let descriptor: CInt
    public let size: Int
    /// Modification time, seconds and nanoseconds since 1970.
    public let modified: (seconds: Int, nanoseconds: Int)
    public let inode: UInt64
    /// The real path (no symlinks), inside the root.
    public let realPath: String
}

/// What a request path names on disk.
public enum Lookup: Sendable {
    /// A regular file, opened read-only.
    case file(OpenedFile)
    /// A folder (its real path).
    case directory(String)
    /// Missing, unreadable, not a regular file or folder, or outside the root.
    case notFound
}

/// Resolves request paths against one root folder.
public struct FileLookup: Sendable {
    /// The root's real path (no trailing slash, except for `/` itself).
    public let root: String

    /// Fails (nil) when `root` does not exist or is not a folder.
    public init?(root: String) {
        guard let real = FileLookup.realPath(root), FileLookup.kind(real) == S_IFDIR else { return nil }
        self.root = real
    }

    /// Whether a real path is the root or lies below it.
    public func contains(realPath: String) -> Bool {
        realPath == root || realPath.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// Real path of `segments` below the root, or nil when it does not exist or resolves outside the root.
    public func resolve(_ segments: [String]) -> String? {
        let joined = segments.isEmpty ? root : root + "/" + segments.joined(separator: "/")
        guard let real = FileLookup.realPath(joined), contains(realPath: real) else { return nil }
        return real
    }

    /// Looks a request path up; a file is returned open (the caller closes its descriptor).
    public func lookup(_ segments: [String]) -> Lookup {
        guard let real = resolve(segments) else { return .notFound }
        // The real path has no symlinks left; O_NOFOLLOW refuses one swapped in since.
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return .notFound }
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); return .notFound }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            // Regular files never block on read; clear O_NONBLOCK (set only so that opening a FIFO cannot hang).
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            return .file(OpenedFile(descriptor: fd, size: Int(st.st_size),
                                    modified: (Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)),
                                    inode: UInt64(st.st_ino), realPath: real))
        case S_IFDIR:
            close(fd)
            return .directory(real)
        default:
            close(fd)
            return .notFound
        }
    }

    /// `realpath(3)`, or nil when a component is missing or unreadable.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The `S_IFMT` bits of a path (following symlinks), or nil when it cannot be stat'ed.
    static func kind(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }
}
