/// `ImageSource`: the numbered list of input images behind `atlas run`, `collect`, `map` and `attribute` — image
/// files and folders (via `ImageLoader`) followed by the images of IDX stacks (each image named `path#i`) —
/// decoded and preprocessed in parallel, a batch at a time, bad items skipped with their reason.
import AtlasCore
import Foundation

public struct ImageSource: Sendable {
    /// One input image: a file, or image `index` of an IDX stack.
    public enum Item: Sendable, Equatable {
        case file(path: String, root: Int)
        case idx(stack: Int, index: Int)
    }

    /// The inputs as given (files, folders, IDX files).
    public let inputs: [String]
    /// Every candidate image in order: files first (ImageLoader order), then each IDX stack's images.
    public let items: [Item]
    /// Inputs that could not be walked (missing paths, unreadable folders).
    public let inputProblems: [SkippedFile]
    private let loader: ImageLoader
    private let stacks: [IDXStack]

    /// Lists the images of `inputs` (at most `limit`); IDX stacks are read on demand (`IDXStack`).
    public init(inputs: [String], channels: Int, limit: Int? = nil) throws {
        let idxInputs = inputs.filter { IDX.looksLikeIDX($0) }
        let loader = ImageLoader(inputs: inputs.filter { !idxInputs.contains($0) },
                                 decodeOptions: DecodeOptions(layout: channels == 1 ? .gray : .rgb))
        let cap = limit ?? Int.max
        var items: [Item] = []
        let roots = inputs.filter { !idxInputs.contains($0) }
        for path in loader.files.prefix(cap) {
            let root = roots.firstIndex { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") } ?? 0
            items.append(.file(path: path, root: root))
        }
        var stacks: [IDXStack] = []
        for path in idxInputs where items.count < cap {
            let stack = try IDXStack(path, limit: cap - items.count)
            for i in 0..<stack.count { items.append(.idx(stack: stacks.count, index: i)) }
            stacks.append(stack)
        }
        self.inputs = roots + idxInputs
        self.items = items
        self.inputProblems = loader.inputProblems
        self.loader = loader
        self.stacks = stacks
    }

    /// How the item is named in reports: the file path, or `STACK#INDEX`.
    public func name(_ i: Int) -> String {
        switch items[i] {
        case let .file(path, _): return path
        case let .idx(stack, index): return "\(stacks[stack].path)#\(index)"
        }
    }

    /// A portable name: the path relative to the folder it was found in (the file name for a file given
    /// directly), or `STACKFILE#INDEX` with the IDX file's name. Never absolute, never with `..`.
    public func relativeName(_ i: Int) -> String {
        switch items[i] {
        case let .file(path, root):
            let base = inputs[root]
            if path != base, path.hasPrefix(base) {
                return String(path.dropFirst(base.count).drop { $0 == "/" })
            }
            return (path as NSString).lastPathComponent
        case let .idx(stack, index): return "\((stacks[stack].path as NSString).lastPathComponent)#\(index)"
        }
    }

    /// Decodes and preprocesses items `range` in chunks of `batch` (in parallel within a chunk) and calls `body`
    /// with each chunk's good items as one `[n, C, H, W]` tensor and their item numbers. Memory: one chunk.
    /// Returns the items that failed, with their reasons, in item order.
    @discardableResult
    public func forEachBatch(_ range: Range<Int>, batch: Int, preprocessor: Preprocessor,
                             _ body: (Tensor, [Int]) throws -> Void) rethrows -> [(item: Int, error: ImageError)] {
        let itemShape = preprocessor.itemShape, size = itemShape.reduce(1, *)
        let options = loader.decodeOptions
        var failed: [(Int, ImageError)] = []
        var first = range.lowerBound
        while first < range.upperBound {
            let chunk = Array(first..<min(range.upperBound, first + max(1, batch)))
            first += chunk.count
            let staging = Tensor(zeros: [chunk.count] + itemShape)
            let base = staging.data
            let errors: [ImageError?] = Parallel.mapChunks(chunk.count) { k in
                let i = chunk[k]
                do {
                    switch items[i] {
                    case let .file(path, _): try preprocessor.fill(base + k * size, from: try ImageCodec.decode(file: path, options: options))
                    case let .idx(stack, index): try preprocessor.fill(base + k * size, from: try stacks[stack].image(index))
                    }
                    return nil
                } catch let error as ImageError {
                    return ImageError(error.kind, file: name(i), reason: error.reason)
                } catch {
                    return ImageError(.corrupt, file: name(i), reason: "\(error)")
                }
            }
            var good: [Int] = []
            for (k, error) in errors.enumerated() {
                if let error { failed.append((chunk[k], error)) } else { good.append(k) }
            }
            guard !good.isEmpty else { continue }
            if good.count == chunk.count { try body(staging, chunk); continue }
            let packed = Tensor(zeros: [good.count] + itemShape)
            for (row, k) in good.enumerated() { (packed.data + row * size).update(from: base + k * size, count: size) }
            try body(packed, good.map { chunk[$0] })
        }
        return failed
    }

    /// Decodes item `i` (a file, or an image of an IDX stack) without preprocessing.
    public func image(_ i: Int) throws -> Image {
        switch items[i] {
        case let .file(path, _): return try ImageCodec.decode(file: path, options: loader.decodeOptions)
        case let .idx(stack, index): return try stacks[stack].image(index)
        }
    }

    /// Candidate images (files that may still fail to decode, plus stack items).
    public var total: Int { items.count }

    /// Every item in batches of `size`, as `ImageBatch`es named by `name(_:)`; returns the skipped items (input
    /// problems first) with their reasons.
    @discardableResult
    public func forEachBatch(size: Int, preprocessor: Preprocessor, _ body: (ImageBatch) throws -> Void) throws -> [SkippedFile] {
        let failed = try forEachBatch(0..<items.count, batch: size, preprocessor: preprocessor) { tensor, items in
            try body(ImageBatch(tensor: tensor, files: items.map { name($0) }))
        }
        return inputProblems + failed.map { SkippedFile(path: name($0.item), error: $0.error) }
    }
}
