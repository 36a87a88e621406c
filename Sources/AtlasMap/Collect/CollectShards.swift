/// Sharded collection (`atlas collect --shard i/n`): part `p` belongs to shard `p mod n`. A shard writes its parts
/// (`part-NNNNN.npy`, `.jsonl`) and a part record `shards/collect-parts/part-NNNNN.json` (the part's `collect.json`
/// entry), each atomically, and keeps `shards/collect-<i>-of-<n>.json` up to date; it never writes `collect.json`.
/// `atlas merge` (`CollectShardAssembler`) writes `collect.json` from the part records, byte for byte what one
/// machine writes.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasOutput
import Foundation

/// Everything `collect.json` holds besides its parts, in plain Codable values (seed as decimal text), plus a
/// fingerprint of the image list: the settings of a collect shard manifest.
public struct CollectRecipe: Codable, Sendable, Equatable {
    public var model: AtlasIndex.Model
    public var layer: String
    public var value: String
    public var perImage: Int
    public var limit: Int?
    public var batch: Int
    public var partImages: Int
    public var top: Int
    public var attribution: AttributionMode
    public var seed: String
    public var input: [Int]
    public var preprocess: String
    public var inputs: [String]
    public var channels: Int
    public var spatial: [Int]
    public var labels: [String]?
    /// Candidate images, and the SHA-256 of their names (`ImageSource.name`), one per line.
    public var items: Int
    public var images: String

    init(_ m: CollectManifest, images: String) {
        let s = m.settings
        model = m.model; layer = s.layer; value = s.value; perImage = s.perImage; limit = s.limit; batch = s.batch
        partImages = s.partImages; top = s.top; attribution = s.attribution; seed = String(s.seed); input = s.input
        preprocess = s.preprocess; inputs = m.inputs; channels = m.channels; spatial = m.spatial; labels = m.labels
        items = m.items; self.images = images
    }

    /// Decodes a recipe from shard-manifest settings.
    public init(settings: JSONValue) throws {
        self = try JSONDecoder().decode(CollectRecipe.self, from: ShardManifest.canonicalJSON(settings))
    }

    /// `collect.json` with these parts.
    public func manifest(parts: [CollectPart], complete: Bool) throws -> CollectManifest {
        guard let seed = UInt64(seed) else { throw CollectError.invalidSettings("seed '\(self.seed)' is not a number") }
        let settings = CollectSettings(layer: layer, value: value, perImage: perImage, limit: limit, batch: batch, partImages: partImages,
                                       top: top, attribution: attribution, seed: seed, input: input, preprocess: preprocess)
        return CollectManifest(model: model, settings: settings, inputs: inputs, channels: channels, spatial: spatial, labels: labels,
                               items: items, parts: parts, complete: complete)
    }

    /// Number of parts.
    public var partCount: Int { (items + partImages - 1) / max(1, partImages) }
}

/// `shards/collect-parts/part-NNNNN.json`: a finished part's `collect.json` entry, tied to its job's fingerprint.
struct CollectPartRecord: Codable {
    var fingerprint: String
    var part: CollectPart

    static func path(_ p: Int) -> String { String(format: "shards/collect-parts/part-%05d.json", p) }
}

/// What a collect shard did.
public struct CollectShardResult: Sendable {
    /// Parts of the whole job and of this shard; parts computed now and reused from an earlier run.
    public var partsTotal: Int
    public var parts: Int
    public var computed: Int
    public var reused: Int
    /// Rows and skipped images of this shard's parts.
    public var rows: Int
    public var skipped: [SkippedImage]
    public var channels: Int
    /// Folder-relative path of the shard manifest.
    public var manifest: String
}

extension Collector {
    /// Collects the parts of `shard` into `directory` (see the file comment). A part whose files still match its
    /// record and the shard's earlier manifest is kept; any other is (re)computed. Refuses a folder that holds
    /// another collection (`JobFolder`). Throws like `run`.
    public static func runShard(_ shard: ShardSpec, source: ImageSource, sampler: ActivationSampler, preprocessor: Preprocessor,
                                settings: CollectSettings, model: AtlasIndex.Model, labels: [String]?, directory: String,
                                progress: ((CollectProgress) throws -> Void)? = nil) throws -> CollectShardResult {
        guard settings.perImage >= 1, settings.batch >= 1, settings.partImages >= 1, settings.top >= 0 else {
            throw CollectError.invalidSettings("perImage, batch and partImages must be ≥ 1, top ≥ 0")
        }
        let folder = try OutputFolder(path: directory)
        let total = source.items.count
        guard let shape = try layerShape(sampler, settings: settings) else {
            throw CollectError.invalidSettings("the shape of layer '\(settings.layer)' is unknown for input \(settings.input); cannot shard")
        }
        let (channels, spatial) = shape
        let base = CollectManifest(model: model, settings: settings, inputs: source.inputs, channels: channels, spatial: spatial,
                                   labels: labels, items: total, parts: [], complete: false)
        let recipe = CollectRecipe(base, images: imagesHash(source))
        let job = try JobFolder(folder, kind: "collect", recipe: recipe, reuse: .sameJobOnly(holdsItems: holdsParts), shard: true)
        let fingerprint = job.record.fingerprint
        let partCount = recipe.partCount
        guard let log = try job.shardLog(shard, total: partCount) else { preconditionFailure("a shard has a log") }
        try OutputFolder.makeDirectory(folder.file("shards/collect-parts"))

        let mine = shard.items(of: partCount)
        var parts: [Int: CollectPart] = [:]
        var pending: [Int] = []
        for p in mine {
            if log.matches(item: p), let part = finishedPart(p, fingerprint: fingerprint, folder: folder) {
                parts[p] = part
                try log.finished(item: p, files: [part.npy, part.jsonl, CollectPartRecord.path(p)])
            } else {
                pending.append(p)
            }
        }
        try log.write(complete: pending.isEmpty)
        let owned = mine.reduce(0) { $0 + partRange($1, settings: settings, total: total).count }
        let resumed = owned - pending.reduce(0) { $0 + partRange($1, settings: settings, total: total).count }
        var status = CollectProgress(itemsDone: resumed, itemsTotal: owned, resumedItems: resumed)
        try progress?(status)
        for (k, p) in pending.enumerated() {
            let range = partRange(p, settings: settings, total: total)
            var c = channels, hw = spatial
            let part = try collectPart(p, range: range, source: source, sampler: sampler, preprocessor: preprocessor, settings: settings,
                                       channels: &c, spatial: &hw, folder: folder) { done in
                status.itemsDone += done
                try progress?(status)
            }
            guard c == channels, hw == spatial else {
                throw CollectError.badPart("layer shape \([c] + hw) differs from the plan's \([channels] + spatial)")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            try folder.write(Array(try encoder.encode(CollectPartRecord(fingerprint: fingerprint, part: part))), to: CollectPartRecord.path(p))
            parts[p] = part
            try log.finished(item: p, files: [part.npy, part.jsonl, CollectPartRecord.path(p)])
            try log.write(complete: k == pending.count - 1)
            status.itemsDone = resumed + pending[...k].reduce(0) { $0 + partRange($1, settings: settings, total: total).count }
            try progress?(status)
        }
        let done = mine.compactMap { parts[$0] }
        return CollectShardResult(partsTotal: partCount, parts: mine.count, computed: pending.count, reused: mine.count - pending.count,
                                  rows: done.reduce(0) { $0 + $1.rows }, skipped: done.flatMap(\.skipped), channels: channels,
                                  manifest: ShardManifest.path(kind: "collect", spec: shard))
    }

    /// Part `p` as recorded by an earlier run of the same job, when its record and both files are intact.
    static func finishedPart(_ p: Int, fingerprint: String, folder: OutputFolder) -> CollectPart? {
        guard let data = FileManager.default.contents(atPath: folder.file(CollectPartRecord.path(p))),
              let record = try? JSONDecoder().decode(CollectPartRecord.self, from: data),
              record.fingerprint == fingerprint, record.part.index == p else { return nil }
        for (file, sha) in [(record.part.npy, record.part.npySHA256), (record.part.jsonl, record.part.jsonlSHA256)] {
            guard let bytes = FileManager.default.contents(atPath: folder.file(file)), SHA256.hex(bytes) == sha else { return nil }
        }
        return record.part
    }
}

/// Merges collect shards: `atlas merge` of a folder filled by `atlas collect … --shard i/n` writes `collect.json`.
public struct CollectShardAssembler: ShardAssembler {
    public init() {}
    public var kind: String { "collect" }

    public func assemble(settings: JSONValue, shards: [ShardManifest], folder: OutputFolder) throws -> ShardMergeResult {
        let recipe: CollectRecipe
        do { recipe = try CollectRecipe(settings: settings) } catch {
            throw ShardMergeError.corrupt(["\(shards[0].path): collect settings unreadable (\(error))"])
        }
        guard recipe.partCount == shards[0].total else {
            throw ShardMergeError.corrupt(["\(shards[0].path): \(shards[0].total) parts listed, the settings make \(recipe.partCount)"])
        }
        // Every file below was checked against its shard manifest by ShardMerge.verify.
        var listed: [String: String] = [:]
        for s in shards { for f in s.files { listed[f.path] = f.sha256 } }
        var parts: [CollectPart] = []
        for p in 0..<recipe.partCount {
            let path = CollectPartRecord.path(p)
            guard let data = FileManager.default.contents(atPath: folder.file(path)),
                  let record = try? JSONDecoder().decode(CollectPartRecord.self, from: data) else {
                throw ShardMergeError.corrupt(["\(path) unreadable"])
            }
            let part = record.part
            guard record.fingerprint == shards[0].fingerprint, part.index == p,
                  part.first == p * recipe.partImages, part.first + part.count == min(recipe.items, (p + 1) * recipe.partImages),
                  listed[part.npy] == part.npySHA256, listed[part.jsonl] == part.jsonlSHA256 else {
                throw ShardMergeError.corrupt(["\(path) does not match its shard manifest"])
            }
            parts.append(part)
        }
        let manifest: CollectManifest
        do { manifest = try recipe.manifest(parts: parts, complete: true) } catch {
            throw ShardMergeError.corrupt(["\(shards[0].path): \(error)"])
        }
        try folder.write(Array(try manifest.jsonData()), to: "collect.json")
        let images = manifest.items - manifest.skipped.count
        return ShardMergeResult(kind: kind, shardCount: shards.count, items: parts.count, filesVerified: 0, index: nil,
                                summary: "collect.json: \(manifest.rows) vectors × \(manifest.channels) channels from \(images) images in \(parts.count) part(s)")
    }
}
