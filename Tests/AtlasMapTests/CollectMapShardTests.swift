/// Sharded collection and sharded atlases on Fashion-MNIST: three collect shards (run out of order, one killed
/// midway and one damaged, each rerun) and two map shards merge into folders byte-identical to single runs;
/// merge refuses missing, unfinished, corrupt and foreign shards, and a layout that is not the shards' one.
import AtlasCore
import AtlasImage
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class CollectMapShardTests: XCTestCase {
    let assemblers: [any ShardAssembler] = [CollectShardAssembler(), MapShardAssembler()]

    func folder() -> String {
        let path = NSTemporaryDirectory() + "atlas-collect-map-shards-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The collection of the first 100 test images in parts of 16 (7 parts), unsharded or one shard of it.
    func job(seed: UInt64 = 5) throws -> (ImageSource, ActivationSampler, CollectSettings, AtlasIndex.Model) {
        let network = try Network(contentsOf: CollectTests.modelPath)
        let value = try network.resolve(CollectTests.layer)
        let logits = try Renderer(network: network).valueName(Objective.networkOutput)
        let settings = CollectSettings(layer: CollectTests.layer, value: value, perImage: 2, limit: 100, batch: 9, partImages: 16, top: 3,
                                       attribution: .gradxact, seed: seed, input: [1, 28, 28], preprocess: "test")
        let sampler = ActivationSampler(network: network, value: value, logits: logits, perImage: 2, top: 3, attribution: .gradxact, seed: seed)
        return (try ImageSource(inputs: [CollectTests.idxPath], channels: 1, limit: 100), sampler, settings,
                .init(file: "fashion_cnn.onnx", sha256: SHA256.hex(file: CollectTests.modelPath)))
    }

    func collect(_ out: String) throws -> CollectManifest {
        let (source, sampler, settings, model) = try job()
        return try Collector.run(source: source, sampler: sampler, preprocessor: CollectTests.preprocessor, settings: settings,
                                 model: model, labels: ["a", "b"], directory: out)
    }

    @discardableResult
    func collectShard(_ out: String, _ i: Int, of n: Int, seed: UInt64 = 5) throws -> CollectShardResult {
        let (source, sampler, settings, model) = try job(seed: seed)
        return try Collector.runShard(try ShardSpec(index: i, count: n), source: source, sampler: sampler, preprocessor: CollectTests.preprocessor,
                                      settings: settings, model: model, labels: ["a", "b"], directory: out)
    }

    /// Relative path → bytes of every file under `dir` outside `shards/`.
    func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = try XCTUnwrap(FileManager.default.enumerator(atPath: dir))
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if !rel.hasPrefix("shards"), FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = FileManager.default.contents(atPath: dir + "/" + rel)
            }
        }
        return out
    }

    func assertSameFiles(_ got: String, _ expected: String, including: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try files(got), b = try files(expected)
        XCTAssertNotNil(b[including], "\(including) missing from \(b.keys.sorted())", file: file, line: line)
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), file: file, line: line)
        for (path, bytes) in b { XCTAssertTrue(a[path] == bytes, "\(path) differs", file: file, line: line) }
    }

    func assertRefused(_ dir: String, _ expected: (ShardMergeError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ShardMerge.merge(dir, assemblers: assemblers), file: file, line: line) { error in
            guard let e = error as? ShardMergeError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "\(e)", file: file, line: line)
        }
    }

    func flipByte(_ path: String) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 3] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    func testThreeCollectShardsKilledAndDamagedMergeLikeASingleRun() throws {
        let single = folder(), shared = folder()
        let m = try collect(single)
        XCTAssertEqual(m.parts.count, 7)
        for i in [2, 0, 1] { try collectShard(shared, i, of: 3) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: shared + "/collect.json"), "a shard wrote collect.json")
        let manifest = try XCTUnwrap(try ShardManifest.read(shared + "/shards/collect-1-of-3.json"))
        XCTAssertEqual(manifest.kind, "collect")
        XCTAssertEqual(manifest.total, 7)
        XCTAssertEqual(manifest.items, [1, 4])
        XCTAssertEqual(manifest.files.map(\.path), ["part-00001.npy", "part-00001.jsonl", "shards/collect-parts/part-00001.json",
                                                    "part-00004.npy", "part-00004.jsonl", "shards/collect-parts/part-00004.json"])
        XCTAssertEqual(manifest.files[0].sha256, m.parts[1].npySHA256)
        let recipe = try CollectRecipe(settings: manifest.settings)
        XCTAssertEqual([recipe.seed, recipe.layer, String(recipe.items), String(recipe.channels)], ["5", CollectTests.layer, "100", "64"])

        // Shard 1 killed while writing part 4: its .jsonl and record never landed, the manifest says unfinished.
        var killed = manifest
        killed.files = Array(killed.files.prefix(3))
        killed.complete = false
        try killed.write(to: try OutputFolder(path: shared))
        for f in ["part-00004.jsonl", "shards/collect-parts/part-00004.json"] { try FileManager.default.removeItem(atPath: shared + "/" + f) }
        assertRefused(shared) { $0 == .incomplete(["shards/collect-1-of-3.json"]) }
        let rerun = try collectShard(shared, 1, of: 3)
        XCTAssertEqual([rerun.computed, rerun.reused, rerun.rows], [1, 1, 2 * (16 + 16)])

        // A part damaged after its shard finished: merge names it, a rerun of that shard recomputes just it.
        try flipByte(shared + "/part-00005.npy")
        assertRefused(shared) { $0 == .corrupt(["part-00005.npy checksum mismatch (shard 2/3)"]) }
        XCTAssertEqual(try collectShard(shared, 2, of: 3).computed, 1)

        let merged = try ShardMerge.merge(shared, assemblers: assemblers)
        XCTAssertEqual([merged.shardCount, merged.items, merged.filesVerified], [3, 7, 21])
        XCTAssertEqual(merged.summary, "collect.json: 200 vectors × 64 channels from 100 images in 7 part(s)")
        try assertSameFiles(shared, single, including: "collect.json")
        XCTAssertEqual(try CollectManifest.read(directory: shared), m)

        // A shard of another job (other seed): refused by the shard while the folder holds this collection (naming
        // the field), then, when made elsewhere and copied in, by merge.
        XCTAssertThrowsError(try collectShard(shared, 0, of: 3, seed: 6)) { error in
            guard case let JobError.otherJob(_, kind, differences) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(kind, "collect")
            XCTAssertEqual(differences, ["seed ('6' vs '5')"])
        }
        let elsewhere = folder()
        try collectShard(elsewhere, 0, of: 3, seed: 6)
        try FileManager.default.removeItem(atPath: shared + "/shards/collect-0-of-3.json")
        try FileManager.default.copyItem(atPath: elsewhere + "/shards/collect-0-of-3.json", toPath: shared + "/shards/collect-0-of-3.json")
        assertRefused(shared) { $0 == .mismatch("shards/collect-0-of-3.json", "shards/collect-1-of-3.json", ["seed ('6' vs '5')"]) }
    }

    func testTwoMapShardsMergeLikeASingleRunAndCheckTheLayout() throws {
        let root = folder()
        _ = try collect(root + "/acts")
        let set = try ActivationSet(directory: root + "/acts")
        let network = try Network(contentsOf: CollectTests.modelPath)
        var atlas = AtlasSettings()
        atlas.grids = [3, 5]
        atlas.minCount = 2
        atlas.reduce = ReduceSettings(method: .pca, seed: 1)
        atlas.render = RenderOptions(size: 16, steps: 3, preprocess: .meanStd([0.286], [0.353]))
        atlas.tries = 2
        atlas.batch = 5
        atlas.format = .fastPNG
        atlas.seed = 7
        func build(_ out: String, shard: ShardSpec? = nil, power: Float = 3) throws -> AtlasResult {
            var s = atlas
            s.power = power
            return try AtlasBuilder.build(set, network: network, modelPath: CollectTests.modelPath, settings: s, outDir: out, shard: shard,
                                          collection: MapRecipe.collectionReference(root + "/acts", outDir: out))
        }
        let single = root + "/single", shared = root + "/shared"
        let whole = try build(single)
        let icons = whole.iconsRendered
        XCTAssertEqual(icons, 2 * (whole.index?.grids.reduce(0) { $0 + $1.cells.count } ?? 0))
        let one = try build(shared, shard: try ShardSpec(index: 1, count: 2))
        XCTAssertNil(one.index)
        XCTAssertEqual(one.iconsRendered, icons / 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: shared + "/atlas.json"))
        assertRefused(shared) { $0 == .missing(["shards/map-0-of-2.json"]) }

        // Shard 0 killed after some icons: no manifest yet, one icon left half-written.
        _ = try build(shared, shard: try ShardSpec(index: 0, count: 2))
        let manifest = try XCTUnwrap(try ShardManifest.read(shared + "/shards/map-0-of-2.json"))
        XCTAssertEqual(manifest.total, icons)
        let recipe = try MapRecipe(settings: manifest.settings)
        XCTAssertEqual(recipe.collection, root + "/acts")
        XCTAssertEqual(recipe.layoutSHA256, SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: shared + "/layout.npy"))))
        try FileManager.default.removeItem(atPath: shared + "/shards/map-0-of-2.json")
        let cut = shared + "/" + manifest.files[2].path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: cut))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        let rerun = try build(shared, shard: try ShardSpec(index: 0, count: 2))
        XCTAssertEqual([rerun.iconsRendered, rerun.iconsReused], [1, icons / 2 - 1])
        XCTAssertTrue(rerun.layoutReused)

        // A layout.npy that is not the one the shards used is refused.
        let layout = try Data(contentsOf: URL(fileURLWithPath: shared + "/layout.npy"))
        try flipByte(shared + "/layout.npy")
        assertRefused(shared) { $0 == .corrupt(["layout.npy missing or not the layout the shards used"]) }
        try layout.write(to: URL(fileURLWithPath: shared + "/layout.npy"))

        let merged = try ShardMerge.merge(shared, assemblers: assemblers)
        XCTAssertEqual([merged.shardCount, merged.items, merged.filesVerified], [2, icons, 2 * icons])
        XCTAssertEqual(merged.index, whole.index)
        try assertSameFiles(shared, single, including: "tiles/g5/0/0/0.png")
        XCTAssertEqual(try files(single).keys.filter { $0.hasPrefix("icons/") }.count, 2 * icons)

        // A shard rerun with another icon objective: refused as another job.
        _ = try build(shared, shard: try ShardSpec(index: 1, count: 2), power: 2)
        assertRefused(shared) { e in
            guard case let .mismatch(a, b, fields) = e else { return false }
            return a == "shards/map-0-of-2.json" && b == "shards/map-1-of-2.json" && fields == ["power (3 vs 2)"]
        }
    }

    func testCollectionReferenceIsRelativeInsideTheOutputFolder() {
        XCTAssertEqual(MapRecipe.collectionReference("/data/out/activations", outDir: "/data/out/"), "activations")
        XCTAssertEqual(MapRecipe.collectionReference("/data/out/../acts", outDir: "/data/out"), "/data/acts")
        XCTAssertEqual(MapRecipe.collectionReference("/data/outside", outDir: "/data/out"), "/data/outside")
    }
}
