/// `ImageLoader`: finds image files under files and folders and decodes them in parallel, in batches of
/// bounded memory, skipping bad files and reporting each with its reason.
///
/// Which files are picked:
/// - A path given explicitly as a file is always tried; if it fails it is listed as skipped.
/// - Folders are walked recursively; entries whose name starts with "." are ignored, symbolic links to folders
///   are not followed (no cycles). A file with an image extension (png, jpg, jpeg, jpe; any case) is tried and
///   listed as skipped if it fails. Any other file is tried only if its first bytes carry a PNG or JPEG
///   signature; otherwise (e.g. `notes.txt`) it is ignored quietly.
/// - Order: the inputs in the order given; inside a folder, paths sorted by their UTF-8 bytes. Duplicates
///   are dropped. The order (and therefore batch contents) never depends on the thread count.
import AtlasCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that was not loaded, and why.
public struct SkippedFile: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let error: ImageError
    public var description: String { error.description }

    public init(path: String, error: ImageError) {
        self.path = path
        self.error = error
    }
}

/// A decoded image with its source path.
public struct LoadedImage: Sendable {
    public let path: String
    public let image: Image
}

/// `count` preprocessed images as one `[count, C, H, W]` tensor and the files they came from.
public struct ImageBatch: @unchecked Sendable {
    public let tensor: Tensor
    public let files: [String]
}

public struct ImageLoader: Sendable {
    /// Candidate files in load order.
    public let files: [String]
    /// Inputs that could not be walked (missing paths, unreadable folders).
    public let inputProblems: [SkippedFile]
    /// Decode options (default: RGB, alpha dropped, EXIF orientation applied, current limits).
    public var decodeOptions: DecodeOptions

    /// Collects candidate files from `inputs` (files and/or folders); see the file comment for the rules.
    public init(inputs: [String], decodeOptions: DecodeOptions = .rgb) {
        var found: [String] = [], problems: [SkippedFile] = [], seen = Set<String>()
        for input in inputs {
            var list: [String] = []
            var st = stat()
            if stat(input, &st) != 0 {
                let code = errno
                problems.append(SkippedFile(path: input, error: ImageError(code == ENOENT ? .notFound : .unreadable,
                                                                           file: input, reason: errnoText(code))))
                continue
            }
            if st.st_mode & S_IFMT == S_IFDIR {
                ImageLoader.walk(input, into: &list, problems: &problems)
                list.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            } else {
                list = [input]
            }
            for path in list where seen.insert(path).inserted { found.append(path) }
        }
        self.files = found
        self.inputProblems = problems
        self.decodeOptions = decodeOptions
    }

    /// A loader over an explicit file list (e.g. the first files of another loader) and earlier input problems.
    public init(files: [String], problems: [SkippedFile] = [], decodeOptions: DecodeOptions = .rgb) {
        self.files = files
        self.inputProblems = problems
        self.decodeOptions = decodeOptions
    }

    private static func walk(_ directory: String, into list: inout [String], problems: inout [SkippedFile]) {
        guard let dir = opendir(directory) else {
            problems.append(SkippedFile(path: directory, error: ImageError(.unreadable, file: directory, reason: errnoText(errno))))
            return
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(dir)
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        for name in names {
            let path = base + name
            var lst = stat()
            guard lstat(path, &lst) == 0 else { continue }
            let type = lst.st_mode & S_IFMT
            if type == S_IFDIR {
                walk(path, into: &list, problems: &problems)
            } else if type == S_IFREG || type == S_IFLNK {
                var st = stat()
                if type == S_IFLNK && (stat(path, &st) != 0 || st.st_mode & S_IFMT != S_IFREG) { continue }
                if ImageFormat(pathExtension: name) != nil || sniffFile(path) != nil { list.append(path) }
            }
        }
    }

    /// The format signature at the start of a file, or nil (also when unreadable).
    static func sniffFile(_ path: String) -> ImageFormat? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 8)
        let got = head.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 8) }
        return got > 0 ? ImageFormat.sniff(head.prefix(got)) : nil
    }

    /// Decodes and preprocesses all files, calling `body` with batches of `size` items in file order (the
    /// last batch may be smaller). Files are decoded `size` at a time in parallel, so memory stays at about
    /// two batch tensors plus one decoded image per thread. Returns every skipped file with its reason
    /// (including `inputProblems`).
    @discardableResult
    public func forEachBatch(size: Int, preprocessor: Preprocessor, _ body: (ImageBatch) throws -> Void) rethrows
        -> [SkippedFile] {
        let batch = max(1, size)
        let itemShape = preprocessor.itemShape
        let item = itemShape.reduce(1, *)
        var skipped = inputProblems
        var pending = Tensor(zeros: [batch] + itemShape), pendingFiles: [String] = []
        let options = decodeOptions
        var start = 0
        while start < files.count {
            let chunk = Array(files[start..<min(files.count, start + batch)])
            start += chunk.count
            let staging = Tensor(zeros: [chunk.count] + itemShape)
            let base = staging.data
            let errors: [ImageError?] = Parallel.mapChunks(chunk.count) { i in
                do {
                    let image = try ImageCodec.decode(file: chunk[i], options: options)
                    try preprocessor.fill(base + i * item, from: image)
                    return nil
                } catch let error as ImageError {
                    return ImageError(error.kind, file: chunk[i], reason: error.reason)
                } catch {
                    return ImageError(.corrupt, file: chunk[i], reason: "\(error)")
                }
            }
            for (i, error) in errors.enumerated() {
                if let error {
                    skipped.append(SkippedFile(path: chunk[i], error: error))
                    continue
                }
                (pending.data + pendingFiles.count * item).update(from: base + i * item, count: item)
                pendingFiles.append(chunk[i])
                if pendingFiles.count == batch {
                    try body(ImageBatch(tensor: pending, files: pendingFiles))
                    pending = Tensor(zeros: [batch] + itemShape)
                    pendingFiles = []
                }
            }
        }
        if !pendingFiles.isEmpty {
            let n = pendingFiles.count
            try body(ImageBatch(tensor: pending.slice(batch: 0..<n), files: pendingFiles))
        }
        return skipped
    }

    /// Decodes all files without preprocessing, calling `body` with up to `chunk` images at a time in file
    /// order (bad files are left out of the chunk). Returns every skipped file with its reason.
    @discardableResult
    public func forEachImages(chunk: Int, _ body: ([LoadedImage]) throws -> Void) rethrows -> [SkippedFile] {
        let step = max(1, chunk)
        var skipped = inputProblems
        let options = decodeOptions
        var start = 0
        while start < files.count {
            let paths = Array(files[start..<min(files.count, start + step)])
            start += paths.count
            let results: [Result<Image, ImageError>] = Parallel.mapChunks(paths.count) { i in
                do { return .success(try ImageCodec.decode(file: paths[i], options: options)) }
                catch let error as ImageError { return .failure(error) }
                catch { return .failure(ImageError(.corrupt, file: paths[i], reason: "\(error)")) }
            }
            var loaded: [LoadedImage] = []
            for (i, result) in results.enumerated() {
                switch result {
                case let .success(image): loaded.append(LoadedImage(path: paths[i], image: image))
                case let .failure(error): skipped.append(SkippedFile(path: paths[i], error: error))
                }
            }
            if !loaded.isEmpty { try body(loaded) }
        }
        return skipped
    }
}
