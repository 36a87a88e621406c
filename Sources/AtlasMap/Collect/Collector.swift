/// `Collector`: streams an `ImageSource` through an `ActivationSampler` into a collection folder, one part file
/// pair per `partImages` candidate images, each written atomically and then listed in `collect.json`, so that an
/// interrupted run resumes after its last listed part and produces the same bytes as an uninterrupted one.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasNet
import AtlasOutput
import Foundation

/// Progress of a collection: candidate images done (parts already on disk included) and the total.
public struct CollectProgress: Sendable {
    public var itemsDone: Int
    public var itemsTotal: Int
    /// Items found complete on disk when the run started.
    public var resumedItems: Int
}

public enum Collector {
    /// Collects `source` into `directory` with `sampler`; `settings` and `model` are recorded in `collect.json`,
    /// and the job's recipe in `job.json` (`JobFolder`: a rerun of the same job resumes, another is refused).
    /// Returns the final manifest. Throws `JobError` (another collection in the folder), `CollectError` (bad
    /// settings, a listed part missing), `OutputError` (cannot write), or the network's errors.
    public static func run(source: ImageSource, sampler: ActivationSampler, preprocessor: Preprocessor,
                           settings: CollectSettings, model: AtlasIndex.Model, labels: [String]?, directory: String,
                           progress: ((CollectProgress) throws -> Void)? = nil) throws -> CollectManifest {
        guard settings.perImage >= 1, settings.batch >= 1, settings.partImages >= 1, settings.top >= 0 else {
            throw CollectError.invalidSettings("perImage, batch and partImages must be ≥ 1, top ≥ 0")
        }
        let folder = try OutputFolder(path: directory)
        let total = source.items.count
        let partCount = (total + settings.partImages - 1) / settings.partImages
        var manifest = CollectManifest(model: model, settings: settings, inputs: source.inputs, channels: 0, spatial: [],
                                       labels: labels, items: total, parts: [], complete: false)
        if let shape = try layerShape(sampler, settings: settings) { (manifest.channels, manifest.spatial) = shape }
        let job = try JobFolder(folder, kind: "collect", recipe: CollectRecipe(manifest, images: imagesHash(source)),
                                reuse: .sameJobOnly(holdsItems: holdsParts))
        if job.resumed, FileManager.default.fileExists(atPath: folder.file("collect.json")) {
            manifest = try CollectManifest.read(directory: folder.path)
            try checkParts(manifest, directory: folder.path)
        }
        let resumed = min(total, manifest.parts.count * settings.partImages)
        var status = CollectProgress(itemsDone: resumed, itemsTotal: total, resumedItems: resumed)
        try progress?(status)
        for p in manifest.parts.count..<partCount {
            let range = partRange(p, settings: settings, total: total)
            let part = try collectPart(p, range: range, source: source, sampler: sampler, preprocessor: preprocessor,
                                       settings: settings, channels: &manifest.channels, spatial: &manifest.spatial, folder: folder) { done in
                status.itemsDone += done
                try progress?(status)
            }
            status.itemsDone = range.upperBound
            try progress?(status)
            manifest.parts.append(part)
            manifest.complete = manifest.parts.count == partCount
            try folder.write(Array(try manifest.jsonData()), to: "collect.json")
        }
        if partCount == 0 || !manifest.complete {
            manifest.complete = manifest.parts.count == partCount
            try folder.write(Array(try manifest.jsonData()), to: "collect.json")
        }
        return manifest
    }

    /// Candidate items of part `p`: `[p·partImages, (p+1)·partImages)` clipped to `total`.
    static func partRange(_ p: Int, settings: CollectSettings, total: Int) -> Range<Int> {
        p * settings.partImages ..< min(total, (p + 1) * settings.partImages)
    }

    /// Samples the items of `range` and writes part `p` (npy, then jsonl, each atomically). `channels`/`spatial`
    /// are the layer's (filled from the first batch when still unknown); `advanced(n)` reports n more items done.
    static func collectPart(_ p: Int, range: Range<Int>, source: ImageSource, sampler: ActivationSampler, preprocessor: Preprocessor,
                            settings: CollectSettings, channels: inout Int, spatial: inout [Int], folder: OutputFolder,
                            advanced: (Int) throws -> Void) throws -> CollectPart {
        var rows: [Float] = [], records: [CollectRecord] = []
        var c = channels, hw = spatial
        let failed = try source.forEachBatch(range, batch: settings.batch, preprocessor: preprocessor) { tensor, items in
            let got = try sampler.sample(tensor, items: items)
            if c == 0 { c = got.channels }
            guard got.channels == c else { throw CollectError.badPart("channel count changed: \(got.channels) vs \(c)") }
            if hw.isEmpty { hw = try layerSpatial(sampler, input: tensor) }
            rows += got.rows
            records += got.records.map { var r = $0; r.image = source.relativeName(r.item); return r }
            try advanced(items.count)
        }
        channels = c
        spatial = hw
        return try writePart(p, range: range, rows: rows, channels: c, records: records,
                             skipped: failed.map { SkippedImage(image: source.name($0.item), reason: $0.error.reason) },
                             folder: folder)
    }

    /// Channels and `[H, W]` of the layer from the network's plan for one `settings.input` image, so that every
    /// part (an empty one included) and every shard records the same shape; nil when the plan lacks the layer.
    static func layerShape(_ sampler: ActivationSampler, settings: CollectSettings) throws -> (Int, [Int])? {
        guard settings.input.count == 3, let shape = try sampler.network.plan(for: [1] + settings.input).shapes[sampler.value],
              shape.count == 4 || shape.count == 2 else { return nil }
        return (shape[1], shape.count == 4 ? [shape[2], shape[3]] : [1, 1])
    }

    /// `[H, W]` of the layer for this input shape (from the network's plan).
    static func layerSpatial(_ sampler: ActivationSampler, input: Tensor) throws -> [Int] {
        let plan = try sampler.network.plan(for: input.shape)
        guard let shape = plan.shapes[sampler.value] else { return [1, 1] }
        return shape.count == 4 ? [shape[2], shape[3]] : [1, 1]
    }

    /// Writes `part-NNNNN.npy` (float32 `[rows, C]`) and `part-NNNNN.jsonl`, each atomically.
    static func writePart(_ p: Int, range: Range<Int>, rows: [Float], channels: Int, records: [CollectRecord],
                          skipped: [SkippedImage], folder: OutputFolder) throws -> CollectPart {
        let stem = String(format: "part-%05d", p)
        let count = records.count
        let tensor = Tensor(shape: [count, channels], values: rows)
        let npy = [UInt8](NPY.encode(tensor))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var jsonl: [UInt8] = []
        for r in records { jsonl += try encoder.encode(r); jsonl.append(10) }
        try folder.write(npy, to: stem + ".npy")
        try folder.write(jsonl, to: stem + ".jsonl")
        return CollectPart(index: p, first: range.lowerBound, count: range.count, rows: count, npy: stem + ".npy",
                           jsonl: stem + ".jsonl", npySHA256: SHA256.hex(npy), jsonlSHA256: SHA256.hex(jsonl), skipped: skipped)
    }

    /// Whether a folder holds parts of a collection (its `collect.json`, or part files).
    static func holdsParts(_ folder: OutputFolder) -> Bool {
        FileManager.default.fileExists(atPath: folder.file("collect.json"))
            || ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).contains { $0.hasPrefix("part-") }
    }

    /// SHA-256 of the candidate images' names (`ImageSource.name`), one per line: the recipe pins the image list.
    static func imagesHash(_ source: ImageSource) -> String {
        SHA256.hex(Array((0..<source.items.count).map { source.name($0) }.joined(separator: "\n").utf8))
    }

    /// Every part `collect.json` lists is on disk.
    static func checkParts(_ m: CollectManifest, directory: String) throws {
        for part in m.parts {
            for file in [part.npy, part.jsonl] where !FileManager.default.fileExists(atPath: "\(directory)/\(file)") {
                throw CollectError.badPart("\(directory)/\(file) is listed in collect.json but missing")
            }
        }
    }
}
