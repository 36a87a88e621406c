/// Sharded atlases (`atlas map --shard i/n`): every shard uses the same collection and layout (computed, or read
/// from OUT when they match) and renders icons `i, i+n, …`; `atlas merge` (`MapShardAssembler`) checks that the
/// collection and `layout.npy` are the ones the shards used (SHA-256 in the settings) and assembles tiles,
/// `atlas.json` and the viewer with `AtlasBuilder.assemble`, byte for byte what one machine writes.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation

/// Everything an atlas's icons and assembled output depend on, in plain Codable values (seeds as decimal text):
/// the settings of a map shard manifest. `batch` and thread count are left out: they never change a byte.
public struct MapRecipe: Codable, Sendable, Equatable {
    /// The collection's model record, and the SHA-256 of the model file that renders the icons.
    public var model: AtlasIndex.Model
    public var renderModelSHA256: String?
    /// The collection folder (relative to the output folder, or absolute) and the SHA-256 of its `collect.json`.
    public var collection: String
    public var collectionSHA256: String
    /// SHA-256 of `layout.npy`, and the settings that made it.
    public var layoutSHA256: String
    public var reduce: String
    public var neighbors: Int
    public var minDist: Double
    public var metric: String
    public var reduceSeed: String
    public var grids: [Int]
    public var minCount: Int
    public var power: Float
    public var whitening: Double
    /// Icon rendering, as `RenderOptions` encodes itself (snapshot thresholds cleared).
    public var render: RenderOptions
    /// How the preprocessing was chosen (e.g. `auto: model.json`), recorded in atlas.json.
    public var preprocessSource: String?
    public var tries: Int
    public var seed: String
    public var tiles: GalleryRecipe.Tiles
    public var title: String
    public var topClasses: Int
    public var samplesPerCell: Int
    /// How the listed samples are cropped (SampleCrops.swift); nil: no crops.
    public var crops: SampleCrops?
    public var fullImageMaxPixels: Int
    /// Icon jobs in all (cells × tries over every grid).
    public var icons: Int

    init(_ s: AtlasSettings, set: ActivationSet, layout: Tensor, collection: String, modelPath: String, icons: Int) throws {
        let o = s.render
        model = set.manifest.model
        renderModelSHA256 = SHA256.hex(file: modelPath)
        self.collection = collection
        collectionSHA256 = SHA256.hex([UInt8](try set.manifest.jsonData()))
        layoutSHA256 = SHA256.hex([UInt8](NPY.encode(layout)))
        reduce = s.reduce.method.rawValue; neighbors = s.reduce.neighbors; minDist = s.reduce.minDist; metric = s.reduce.metric
        reduceSeed = String(s.reduce.seed)
        grids = s.grids; minCount = s.minCount; power = s.power; whitening = s.whitening
        render = o.pixelRecipe
        preprocessSource = s.preprocessSource
        tries = s.tries; seed = String(s.seed); tiles = GalleryRecipe.Tiles(s.format)
        title = s.title ?? "Activation atlas of \(set.manifest.settings.layer)"
        topClasses = s.topClasses; samplesPerCell = s.samplesPerCell; fullImageMaxPixels = s.fullImageMaxPixels
        crops = s.sampleCrops
        self.icons = icons
    }

    /// Decodes a recipe from shard-manifest settings.
    public init(settings: JSONValue) throws {
        self = try JSONDecoder().decode(MapRecipe.self, from: ShardManifest.canonicalJSON(settings))
    }

    /// How a shard records the collection folder `directory` of an atlas in `outDir`: relative when inside it
    /// (e.g. `activations`), else absolute, so that the merge finds it from any working folder.
    public static func collectionReference(_ directory: String, outDir: String) -> String {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        let out = URL(fileURLWithPath: outDir).standardizedFileURL.path
        return dir.hasPrefix(out + "/") ? String(dir.dropFirst(out.count + 1)) : dir
    }
}

/// Merges atlas shards: `atlas merge` of a folder filled by `atlas map … --shard i/n`.
public struct MapShardAssembler: ShardAssembler {
    public init() {}
    public var kind: String { "map" }

    public func assemble(settings: JSONValue, shards: [ShardManifest], folder: OutputFolder) throws -> ShardMergeResult {
        let recipe: MapRecipe
        do { recipe = try MapRecipe(settings: settings) } catch {
            throw ShardMergeError.corrupt(["\(shards[0].path): map settings unreadable (\(error))"])
        }
        let dir = recipe.collection.hasPrefix("/") ? recipe.collection : folder.file(recipe.collection)
        let set: ActivationSet
        do { set = try ActivationSet(directory: dir, verify: true) } catch {
            throw ShardMergeError.corrupt(["the collection the shards used: \(error)"])
        }
        guard SHA256.hex([UInt8](try set.manifest.jsonData())) == recipe.collectionSHA256 else {
            throw ShardMergeError.corrupt(["\(dir)/collect.json differs from the collection the shards used"])
        }
        guard let bytes = FileManager.default.contents(atPath: folder.file("layout.npy")), SHA256.hex(bytes) == recipe.layoutSHA256 else {
            throw ShardMergeError.corrupt(["layout.npy missing or not the layout the shards used"])
        }
        let layout: Tensor
        do { layout = try NPY.decode(bytes) } catch { throw ShardMergeError.corrupt(["layout.npy: \(error)"]) }
        let grids = try AtlasBuilder.grids(set, layout: layout, sizes: recipe.grids, minCount: recipe.minCount)
        let ids = AtlasBuilder.iconIds(grids, tries: recipe.tries)
        guard ids.count == recipe.icons, ids.count == shards[0].total else {
            throw ShardMergeError.corrupt(["\(shards[0].path): \(shards[0].total) icons listed, the layout makes \(ids.count)"])
        }
        // The sidecars were checked against the shard manifests by ShardMerge.verify.
        let values: [Double?] = try ids.map { id in
            guard let data = FileManager.default.contents(atPath: folder.file("icons/\(id).json")),
                  let sidecar = try? JSONDecoder().decode(IconSidecar.self, from: data) else {
                throw ShardMergeError.corrupt(["icons/\(id).json unreadable"])
            }
            return sidecar.value
        }
        let index = try AtlasBuilder.assemble(recipe, set: set, grids: grids, values: values, folder: folder)
        return ShardMergeResult(kind: kind, shardCount: shards.count, items: ids.count, filesVerified: 0, index: index)
    }
}
