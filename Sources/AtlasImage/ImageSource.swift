/// `ImageSource`: the images a command line names — files and folders (walked by `ImageLoader`) and IDX image
/// stacks (MNIST format, each image named `path#i`) — preprocessed into batches in input order: loose files
/// first, then the stacks. Bad files are skipped and returned; a bad stack item skips the rest of its stack.
import AtlasCore

public struct ImageSource: Sendable {
    /// Files and folders.
    public let loader: ImageLoader
    /// IDX stacks, decoded (each at most `IDX.maxBytes`).
    public let stacks: [(path: String, images: [Image])]

    /// Splits `inputs` into IDX stacks (recognised by `IDX.looksLikeIDX`) and files/folders; keeps at most
    /// `limit` images in input order. Throws `ImageError` for an unreadable or malformed stack.
    public init(inputs: [String], decodeOptions: DecodeOptions, limit: Int? = nil) throws {
        let idx = inputs.filter { IDX.looksLikeIDX($0) }
        var loader = ImageLoader(inputs: inputs.filter { !idx.contains($0) }, decodeOptions: decodeOptions)
        var left = limit ?? Int.max
        if loader.files.count > left {
            loader = ImageLoader(files: Array(loader.files.prefix(left)), problems: loader.inputProblems, decodeOptions: decodeOptions)
        }
        left -= loader.files.count
        var stacks: [(path: String, images: [Image])] = []
        for path in idx where left > 0 {
            let images = try IDX.images(path, limit: left)
            left -= images.count
            stacks.append((path, images))
        }
        self.loader = loader
        self.stacks = stacks
    }

    /// Candidate images (files that may still fail to decode, plus stack items).
    public var total: Int { loader.files.count + stacks.reduce(0) { $0 + $1.images.count } }

    /// Decodes and preprocesses everything in batches of `size` (the last of each part may be smaller), calling
    /// `body` in input order. Returns the skipped files with their reasons.
    @discardableResult
    public func forEachBatch(size: Int, preprocessor: Preprocessor, _ body: (ImageBatch) throws -> Void) throws -> [SkippedFile] {
        var skipped = try loader.forEachBatch(size: size, preprocessor: preprocessor, body)
        let item = preprocessor.itemShape.reduce(1, *)
        let batch = max(1, size)
        for (path, stack) in stacks {
            var first = 0
            while first < stack.count {
                let count = min(batch, stack.count - first)
                let t = Tensor(zeros: [count] + preprocessor.itemShape)
                let errors: [ImageError?] = Parallel.mapChunks(count) { i in
                    do { try preprocessor.fill(t.data + i * item, from: stack[first + i]); return nil } catch let e as ImageError {
                        return e
                    } catch { return ImageError(.corrupt, file: "\(path)#\(first + i)", reason: "\(error)") }
                }
                if let e = errors.compactMap({ $0 }).first { skipped.append(SkippedFile(path: path, error: e)); break }
                try body(ImageBatch(tensor: t, files: (first ..< first + count).map { "\(path)#\($0)" }))
                first += count
            }
        }
        return skipped
    }
}
