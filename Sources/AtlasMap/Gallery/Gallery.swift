/// Channel and class galleries: one feature visualization per item, rendered in batches, kept as icon files so
/// that runs resume and shard, then assembled into a browsable output folder (tiles, atlas.json, viewer).
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation

/// One icon of a gallery.
public struct GalleryItem: Sendable, Equatable {
    /// File stem of the icon (`icons/<id>.png`), `[A-Za-z0-9_-]+`, unique in the gallery.
    public var id: String
    /// Short name shown by the viewer (e.g. a class name); nil for none.
    public var label: String?
    /// What the icon maximizes.
    public var objective: Objective
    /// Channel (or class) index recorded in the cell.
    public var channel: Int

    public init(id: String, label: String? = nil, objective: Objective, channel: Int) {
        self.id = id; self.label = label; self.objective = objective; self.channel = channel
    }

    /// Channel objectives of `layer`, ids `c0000`, `c0001`, ….
    public static func channels(_ layer: String, _ channels: [Int]) -> [GalleryItem] {
        channels.map { GalleryItem(id: String(format: "c%04d", $0), objective: .channel(layer, $0), channel: $0) }
    }

    /// Pre-softmax class logits of the model output, ids `k0000`, …, labelled from `labels` when given.
    public static func classes(_ classes: [Int], labels: [String]? = nil) -> [GalleryItem] {
        classes.map { k in
            GalleryItem(id: String(format: "k%04d", k), label: labels.flatMap { k < $0.count ? $0[k] : nil },
                        objective: .classLogit(k), channel: k)
        }
    }
}

/// Settings of a gallery run.
public struct GallerySettings: Sendable {
    /// Size, steps, learning rate, transforms, parameterization, preprocessing, upsampling of every icon.
    public var render: RenderOptions
    /// Icon `i` (item order) renders from seed `seed + i`, whatever the batching, sharding or thread count.
    public var seed: UInt64
    /// Icons optimized together in one batch (speed and memory only; never changes the pictures).
    public var batch: Int
    /// Tile format of the pyramid (icons are always PNG).
    public var format: TileFormat
    public var title: String?
    /// Grid id: default `channels` when a layer is given, else `classes`.
    public var gridId: String?
    /// How the preprocessing was chosen (e.g. `auto: model.json`), recorded in the index.
    public var preprocessSource: String?
    /// ISO 8601 creation time for the index; nil keeps atlas.json reproducible.
    public var created: String?

    public init(render: RenderOptions = RenderOptions(), seed: UInt64 = 0, batch: Int = 8, format: TileFormat = .defaultJPEG,
                title: String? = nil, gridId: String? = nil, preprocessSource: String? = nil, created: String? = nil) {
        self.render = render; self.seed = seed; self.batch = batch; self.format = format; self.title = title
        self.gridId = gridId; self.preprocessSource = preprocessSource; self.created = created
    }
}

/// What a gallery run did.
public struct GalleryResult: Sendable {
    /// The output folder.
    public var outDir: String
    /// Items of this run (the shard's, or all).
    public var itemCount: Int
    /// Icons rendered now, and icons reused from an earlier run.
    public var rendered: Int
    public var reused: Int
    /// Final objective value per item (item order); nil for items outside the shard.
    public var values: [Double?]
    /// The quality measure per item: the objective of the finished icon without transforms; nil outside the shard.
    public var scores: [Double?]
    /// The written index; nil for a shard run (icons only).
    public var index: AtlasIndex?
    /// Wall-clock seconds spent rendering.
    public var renderSeconds: Double
}

/// Why a gallery cannot be built.
public enum GalleryError: Error, CustomStringConvertible, Equatable {
    case invalidSettings(String)
    case invalidItems(String)

    public var description: String {
        switch self {
        case let .invalidSettings(m): return "gallery: \(m)"
        case let .invalidItems(m): return "gallery: \(m)"
        }
    }
}

/// Builds channel/class galleries.
public enum Gallery {
    /// Renders every item of `shard` (items with `index % count == shard.index`; all when nil) whose icon is not
    /// already in `outDir/icons`, writing each icon (`<id>.png`) and its sidecar (`<id>.json`: objective value,
    /// seed, settings key) atomically as soon as its batch finishes. Without a shard it then assembles all icons,
    /// in item order row-major on a grid of `ceil(sqrt(n))` columns, into the tile pyramid, `atlas.json`/`atlas.js`
    /// (kind `gallery`), the viewer and `atlas.png` (when small). Throws `GalleryError`, `RenderError`,
    /// `ModelError`, `ObjectiveError`, `OutputError` or `ImageError`. A shard run also keeps its manifest
    /// `shards/gallery-<i>-of-<n>.json` (ShardManifest.swift) up to date after every batch, and re-renders an
    /// icon whose bytes no longer match that manifest.
    public static func build(network: Network, modelPath: String, layer: String?, items: [GalleryItem],
                             settings: GallerySettings, outDir: String, shard: (index: Int, count: Int)? = nil,
                             progress: ((GalleryProgress) -> Void)? = nil) throws -> GalleryResult {
        try check(items: items, settings: settings, shard: shard)
        let renderer = try Renderer(network: network)
        let folder = try OutputFolder(path: outDir)
        let modelSHA = SHA256.hex(file: modelPath)
        let store = try IconStore(folder: folder, renderer: renderer, options: settings.render, modelSHA: modelSHA)
        let mine = items.indices.filter { shard == nil || $0 % shard!.count == shard!.index }
        let recipe = GalleryRecipe(items: items, layer: layer, modelPath: modelPath, modelSHA: modelSHA, settings: settings,
                                   inputChannels: renderer.inputChannels)
        let job = try JobFolder(folder, kind: "gallery", recipe: recipe, reuse: .itemKeys, shard: shard != nil)
        let manifest = try job.shardLog(shard.map { try ShardSpec(index: $0.index, count: $0.count) }, total: items.count)
        let jobs = mine.map { IconJob(id: items[$0].id, objective: items[$0].objective, seed: settings.seed &+ UInt64($0), index: $0) }
        let start = DispatchTime.now().uptimeNanoseconds
        let done = try store.render(jobs, batch: settings.batch, progress: progress,
                                    mayReuse: { k in manifest?.matches(item: mine[k]) != false },
                                    finished: { k in try manifest?.finished(item: mine[k], files: itemFiles(items[mine[k]])) },
                                    checkpoint: { complete in try manifest?.write(complete: complete) })
        var values = [Double?](repeating: nil, count: items.count)
        var scores = [Double?](repeating: nil, count: items.count)
        for (k, i) in mine.enumerated() {
            values[i] = done.values[k]
            scores[i] = IconSidecar.read(folder, id: items[i].id)?.score
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        var out = GalleryResult(outDir: folder.path, itemCount: mine.count, rendered: done.rendered,
                                reused: mine.count - done.rendered, values: values, scores: scores, index: nil,
                                renderSeconds: seconds)
        guard shard == nil else { return out }
        out.index = try assemble(recipe, folder: folder)
        return out
    }

    static func check(items: [GalleryItem], settings: GallerySettings, shard: (index: Int, count: Int)?) throws {
        guard !items.isEmpty else { throw GalleryError.invalidItems("no items to render") }
        var ids = Set<String>()
        for item in items {
            guard OutputFolder.isValidId(item.id) else { throw GalleryError.invalidItems("icon id '\(item.id)' is not [A-Za-z0-9_-]+") }
            guard ids.insert(item.id).inserted else { throw GalleryError.invalidItems("icon id '\(item.id)' appears twice") }
        }
        guard (1...4096).contains(settings.batch) else { throw GalleryError.invalidSettings("batch \(settings.batch) (1…4096)") }
        if let shard, !(shard.count >= 1 && (0..<shard.count).contains(shard.index)) {
            throw GalleryError.invalidSettings("shard \(shard.index)/\(shard.count): need 0 ≤ index < count")
        }
        if items.contains(where: { $0.objective.couplesIcons }) {
            throw GalleryError.invalidItems("objectives that couple icons (diversity) cannot be rendered as a gallery")
        }
    }
}
