/// Typed errors of AtlasImage and the allocation caps checked before any pixel buffer is made.
import Synchronization

/// An image could not be read, decoded, encoded or written. Always names the file (or `<memory>`) and why.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What class of failure this is, for callers that react differently (e.g. a loader's summary).
    public enum Kind: String, Sendable {
        case notFound = "not found"
        case isDirectory = "is a directory"
        case unreadable = "unreadable"
        case empty = "empty file"
        case notAnImage = "not a PNG or JPEG image"
        case truncated = "truncated"
        case corrupt = "corrupt"
        case tooLarge = "too large"
        case unsupported = "unsupported"
        case invalidArgument = "invalid argument"
        case encodeFailed = "encode failed"
        case writeFailed = "write failed"
    }

    public let kind: Kind
    /// Path of the file concerned, or `<memory>` for in-memory data.
    public let file: String
    /// Human-readable detail (library message, errno text, sizes).
    public let reason: String

    public init(_ kind: Kind, file: String, reason: String) {
        self.kind = kind
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(kind.rawValue): \(reason)" }
}

/// Caps on what a decoder may allocate. Checked against the header *before* pixel memory is allocated.
public struct ImageLimits: Sendable, Equatable {
    /// Largest accepted width × height. Default 100 megapixels (a 100 MP RGBA 16-bit PNG still needs
    /// 800 MB of decode buffer plus 1.6 GB of Float32 planes, so raise it with care).
    public var maxPixels: Int
    /// Largest accepted file, in bytes (the whole file is read into memory). Default 1 GiB.
    public var maxFileBytes: Int

    public init(maxPixels: Int = 100_000_000, maxFileBytes: Int = 1 << 30) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
    }

    private static let shared = Mutex<ImageLimits>(ImageLimits())

    /// Process-wide limits used when an API is not given explicit ones.
    public static var current: ImageLimits {
        get { shared.withLock { $0 } }
        set { shared.withLock { $0 = newValue } }
    }
}
