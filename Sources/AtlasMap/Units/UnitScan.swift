/// The dataset pass of `atlas units`: images stream through the network up to the layer (forward only), a part of
/// `partImages` images at a time; each part's channel summaries (UnitStats.swift) go to
extension UnitsRecipe {
    /// Channels, `[H, W]` and receptive field of `value` from the network's plan for one `input` (`[C, H, W]`)
    /// image. Throws the plan's error for the value, or `CollectError.invalidSettings` for a layer that is not
    /// `[N, C, H, W]` or `[N, C]`.
    public static func layerShape(network: Network, value: String, input: [Int]) throws -> (channels: Int, spatial: [Int], field: ReceptiveField) {
        let plan = try network.plan(for: [1] + input)
        if let e = plan.errors[value] { throw e }
        guard let shape = plan.shapes[value], shape.count == 4 || shape.count == 2 else {
            throw CollectError.invalidSettings("layer '\(value)' has shape \(plan.shapes[value] ?? []); need [N, C, H, W] or [N, C]")
        }
        return (shape[1], shape.count == 4 ? [shape[2], shape[3]] : [1, 1], try plan.receptiveField(of: value))
    }
}

/// `units-parts/<layer>/part-NNNNN.json`, written atomically and tied to the job's fingerprint, so an interrupted run
/// resumes after its last finished part. `--shard i/n` computes parts `p ≡ i (mod n)` and keeps a shard manifest
/// (`shards/units-<i>-of-<n>.json`); the assembly (UnitAssembly.swift) folds the parts in order, the same code
/// for a single run and for `atlas merge`, so the bytes never depend on sharding, batching or threads.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasNet
import AtlasOutput
import Foundation

/// Everything the output of a units job depends on, in plain Codable values: the shard settings (its SHA-256 is
/// the fingerprint) and the recipe the assembly works from. `batch` and the thread count are left out: they never
/// change a byte.
public struct UnitsRecipe: Codable, Sendable, Equatable {
    /// How images were brought to the network input (Preprocessor.Geometry, spelled out).
    public struct Geometry: Codable, Sendable, Equatable {
        /// `shorter-side` (resize the shorter side to `resize`, center crop) or `direct`.
        public var mode: String
        public var resize: Int?
        public var width: Int
        public var height: Int

        public init(_ g: Preprocessor.Geometry) {
            switch g {
            case let .shorterSide(resize, w, h): mode = "shorter-side"; self.resize = resize; width = w; height = h
            case let .direct(w, h): mode = "direct"; resize = nil; width = w; height = h
            }
        }

        public var geometry: Preprocessor.Geometry {
            mode == "direct" ? .direct(width: width, height: height)
                : .shorterSide(resize: resize ?? min(width, height), width: width, height: height)
        }
    }

    public var model: AtlasIndex.Model
    /// The layer as given, and its ONNX value name.
    public var layer: String
    public var value: String
    /// Channels summarized (in this order) and the layer's channel count.
    public var channels: [Int]
    public var layerChannels: Int
    /// Layer `[H, W]` at the network input size.
    public var spatial: [Int]
    /// Exemplars kept per list, and whether the bottom list is kept.
    public var top: Int
    public var negative: Bool
    public var partImages: Int
    public var limit: Int?
    /// Network input `[C, H, W]`, the geometry that made it, and the normalization's name.
    public var input: [Int]
    public var geometry: Geometry
    public var preprocess: String
    /// The image inputs as given, the candidate count and the SHA-256 of their names (`ImageSource.name`), one a line.
    public var inputs: [String]
    public var items: Int
    public var images: String
    /// Receptive field of one layer cell in network-input pixels (from the planned graph).
    public var field: ReceptiveField
    /// A gallery folder whose `icons/c<NNNN>.png` are the units' feature visualizations, as given; nil for none.
    public var icons: String?
    public var title: String

    public init(model: AtlasIndex.Model, layer: String, value: String, channels: [Int], layerChannels: Int, spatial: [Int],
                top: Int, negative: Bool, partImages: Int, limit: Int?, preprocessor: Preprocessor, preprocess: String,
                source: ImageSource, field: ReceptiveField, icons: String?, title: String?) {
        self.model = model; self.layer = layer; self.value = value; self.channels = channels; self.layerChannels = layerChannels
        self.spatial = spatial; self.top = top; self.negative = negative; self.partImages = partImages; self.limit = limit
        input = preprocessor.itemShape; geometry = Geometry(preprocessor.geometry); self.preprocess = preprocess
        inputs = source.inputs; items = source.items.count
        images = UnitsRecipe.namesHash(source)
        self.field = field; self.icons = icons; self.title = title ?? "Units of \(layer)"
    }

    /// Decodes a recipe from shard-manifest settings.
    public init(settings: JSONValue) throws {
        self = try JSONDecoder().decode(UnitsRecipe.self, from: ShardManifest.canonicalJSON(settings))
    }

    /// SHA-256 of the candidate names of `source`, one a line.
    static func namesHash(_ source: ImageSource) -> String {
        SHA256.hex(Array((0..<source.items.count).map { source.name($0) }.joined(separator: "\n").utf8))
    }

    public var settingsJSON: JSONValue { get throws { try ShardManifest.settingsJSON(self) } }
    public var fingerprint: String { get throws { try ShardManifest.fingerprint(settingsJSON) } }

    /// Number of parts, and the candidate items of part `p`.
    public var partCount: Int { (items + partImages - 1) / max(1, partImages) }
    public func partRange(_ p: Int) -> Range<Int> { p * partImages ..< min(items, (p + 1) * partImages) }

    /// The layer's folder name under `units/`: the layer with every character outside `[A-Za-z0-9._-]` (and a
    /// leading dot) replaced by `_`, so URLs like `units/mixed4a/97.html` stay stable and plain.
    public var layerId: String {
        var id = String(layer.unicodeScalars.map { c -> Character in
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-"
            return ok ? Character(c) : "_"
        })
        if id.hasPrefix(".") { id = "_" + id.dropFirst() }
        return id.isEmpty ? "layer" : String(id.prefix(100))
    }

    /// The preprocessor that reproduces the network's view of an image, in [0, 1] (for crops).
    var viewPreprocessor: Preprocessor {
        Preprocessor(geometry: geometry.geometry, layout: input.first == 1 ? .gray : .rgb)
    }
}

/// `units-parts/<layer>/part-NNNNN.json`: the channel summaries of one part's images, tied to its job's fingerprint
/// (one folder per layer, so that the jobs of several layers into one output keep their parts).
public struct UnitsPart: Codable, Sendable, Equatable {
    public var fingerprint: String
    public var index: Int
    /// First candidate item and candidate count.
    public var first: Int
    public var count: Int
    public var skipped: [SkippedImage]
    public var summaries: [ChannelSummary]

    public static func path(_ p: Int, layer: String) -> String { "units-parts/\(layer)/" + String(format: "part-%05d.json", p) }

    func jsonData() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [10]
    }

    /// Part `p` of the job `fingerprint` as on disk, or nil when absent, unreadable or of another job.
    static func read(_ p: Int, layer: String, fingerprint: String, folder: OutputFolder) -> UnitsPart? {
        guard let data = FileManager.default.contents(atPath: folder.file(path(p, layer: layer))),
              let part = try? JSONDecoder().decode(UnitsPart.self, from: data),
              part.fingerprint == fingerprint, part.index == p else { return nil }
        return part
    }
}

/// What a units dataset pass did.
public struct UnitScanResult: Sendable {
    /// Parts of the job and of this run (the shard's, or all); parts computed now and kept from an earlier run.
    public var partsTotal: Int
    public var parts: Int
    public var computed: Int
    public var reused: Int
    /// Images this run's parts used, and those skipped as unreadable.
    public var images: Int
    public var skipped: [SkippedImage]
    /// Seconds spent in the computed parts (decode + forward + ranking), and their candidate images.
    public var seconds: Double
    public var computedImages: Int
    /// The written index (nil for a shard run: parts only).
    public var index: UnitsIndex?
    /// Unit pictures rendered now and kept from an earlier run (UnitPictureStore).
    public var pictures = UnitPictureCounts()
}

/// The dataset pass.
public enum UnitScan {
    /// Streams the parts of `shard` (all parts when nil) of `recipe` through `network` into `directory`, keeping
    /// intact parts of an earlier run of the same job, then (without a shard) assembles the output. `progress`
    /// gets candidate images done (kept parts included), the total and the kept count; `visuals` (UnitVisuals) renders
    /// the units' pictures during the assembly. Throws `CollectError`
    /// (bad layer shape), `OutputError`, `ImageError` (assembly) or the network's errors.
    public static func run(recipe: UnitsRecipe, network: Network, source: ImageSource, preprocessor: Preprocessor, batch: Int,
                           directory: String, shard: ShardSpec? = nil, visuals: UnitVisuals? = nil,
                           progress: ((CollectProgress) throws -> Void)? = nil) throws -> UnitScanResult {
        guard batch >= 1, recipe.partImages >= 1, recipe.top >= 1 else {
            throw CollectError.invalidSettings("batch, part images and top must be ≥ 1")
        }
        let folder = try OutputFolder(path: directory)
        try OutputFolder.makeDirectory(folder.file("units-parts/\(recipe.layerId)"))
        let fingerprint = try recipe.fingerprint
        let partCount = recipe.partCount
        let job = try JobFolder(folder, kind: "units", recipe: recipe, reuse: .itemKeys, shard: shard != nil,
                                record: "units-parts/\(recipe.layerId)/job.json")
        let log = try job.shardLog(shard, total: partCount)
        let mine = shard?.items(of: partCount) ?? Array(0..<partCount)
        // What the result needs of each finished part (not the part: memory stays one part whatever the image count).
        var done: [Int: (count: Int, skipped: [SkippedImage])] = [:]
        var pending: [Int] = []
        for p in mine {
            if log?.matches(item: p) != false, let part = UnitsPart.read(p, layer: recipe.layerId, fingerprint: fingerprint, folder: folder) {
                done[p] = (part.count, part.skipped)
                try log?.finished(item: p, files: [UnitsPart.path(p, layer: recipe.layerId)])
            } else {
                pending.append(p)
            }
        }
        try log?.write(complete: pending.isEmpty)
        let owned = mine.reduce(0) { $0 + recipe.partRange($1).count }
        let resumed = owned - pending.reduce(0) { $0 + recipe.partRange($1).count }
        var status = CollectProgress(itemsDone: resumed, itemsTotal: owned, resumedItems: resumed)
        try progress?(status)
        let start = DispatchTime.now().uptimeNanoseconds
        for (k, p) in pending.enumerated() {
            let part = try scanPart(p, recipe: recipe, fingerprint: fingerprint, network: network, source: source,
                                    preprocessor: preprocessor, batch: batch) { n in
                status.itemsDone += n
                try progress?(status)
            }
            try folder.write(try part.jsonData(), to: UnitsPart.path(p, layer: recipe.layerId))
            done[p] = (part.count, part.skipped)
            try log?.finished(item: p, files: [UnitsPart.path(p, layer: recipe.layerId)])
            try log?.write(complete: k == pending.count - 1)
            status.itemsDone = resumed + pending[...k].reduce(0) { $0 + recipe.partRange($1).count }
            try progress?(status)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let parts = mine.compactMap { done[$0] }
        let skipped = parts.flatMap(\.skipped)
        var result = UnitScanResult(partsTotal: partCount, parts: mine.count, computed: pending.count, reused: mine.count - pending.count,
                                    images: parts.reduce(0) { $0 + $1.count } - skipped.count, skipped: skipped, seconds: seconds,
                                    computedImages: pending.reduce(0) { $0 + recipe.partRange($1).count }, index: nil)
        if shard == nil { (result.index, result.pictures) = try UnitAssembly.assemble(recipe, folder: folder, source: source, visuals: visuals) }
        return result
    }

    /// Summarizes the images of part `p`: forward to the layer batch by batch, unreadable images skipped and listed.
    /// `advanced(n)` reports n more candidate images done.
    static func scanPart(_ p: Int, recipe: UnitsRecipe, fingerprint: String, network: Network, source: ImageSource,
                         preprocessor: Preprocessor, batch: Int, advanced: (Int) throws -> Void) throws -> UnitsPart {
        let range = recipe.partRange(p)
        var acc = UnitAccumulator(channels: recipe.channels, k: recipe.top, negatives: recipe.negative)
        var seen = range.lowerBound
        let failed = try source.forEachBatch(range, batch: batch, preprocessor: preprocessor) { tensor, items in
            let act = try layerActivations(network, value: recipe.value, input: tensor)
            guard act.shape[1] == recipe.layerChannels, act.rank == 2 || Array(act.shape[2...]) == recipe.spatial else {
                throw CollectError.badPart("layer '\(recipe.layer)' has shape \(act.shape); the plan said [N, \(recipe.layerChannels)] + \(recipe.spatial)")
            }
            acc.add(act, items: items, names: items.map { source.relativeName($0) })
            try advanced(items.last! + 1 - seen)
            seen = items.last! + 1
        }
        if seen < range.upperBound { try advanced(range.upperBound - seen) }
        return UnitsPart(fingerprint: fingerprint, index: p, first: range.lowerBound, count: range.count,
                         skipped: failed.map { SkippedImage(image: source.name($0.item), reason: $0.error.reason) },
                         summaries: acc.result)
    }

    /// The layer's activations `[N, C, H, W]` or `[N, C]` for a batch: the network runs only up to the layer.
    public static func layerActivations(_ network: Network, value: String, input: Tensor) throws -> Tensor {
        let out = try network.forward(input, capture: [value])
        guard let act = out[value], act.shape.first == input.shape[0], act.rank == 4 || act.rank == 2 else {
            throw CollectError.invalidSettings("layer '\(value)' has shape \(out[value]?.shape ?? []); need [N, C, H, W] or [N, C]")
        }
        return act
    }
}
