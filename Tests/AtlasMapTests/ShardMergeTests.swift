/// Tests of shard manifests and `ShardMerge` on tiny Fashion-MNIST galleries: four shards run out of order,
/// one killed and rerun, merged byte-identically to a single run; and every refusal (missing, unfinished,
/// corrupt, other settings, overlap) naming what is wrong.
import AtlasJobs
import AtlasMap
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import XCTest

final class ShardMergeTests: XCTestCase {
    func build(_ out: String, items: [GalleryItem], batch: Int = 2, shard: (index: Int, count: Int)? = nil, seed: UInt64 = 3) throws -> GalleryResult {
        var settings = GalleryTests.settings(batch: batch)
        settings.seed = seed
        return try Gallery.build(network: try Network(contentsOf: GalleryTests.modelPath), modelPath: GalleryTests.modelPath,
                                 layer: GalleryTests.layer, items: items, settings: settings, outDir: out, shard: shard)
    }

    func folder() -> String {
        let path = NSTemporaryDirectory() + "atlas-shard-tests-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Every file except the shard manifests (which a single run does not write).
    func outputFiles(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = try XCTUnwrap(FileManager.default.enumerator(atPath: dir))
        while let rel = e.nextObject() as? String {
            if rel.hasPrefix("shards") { continue }
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir)
            if !isDir.boolValue { out[rel] = FileManager.default.contents(atPath: dir + "/" + rel) }
        }
        return out
    }

    func merge(_ dir: String) throws -> ShardMergeResult { try ShardMerge.merge(dir, assemblers: [GalleryShardAssembler()]) }

    func assertRefused(_ dir: String, _ expected: (ShardMergeError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try merge(dir), file: file, line: line) { error in
            guard let e = error as? ShardMergeError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "\(e)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/atlas.json"), "a refused merge wrote an index", file: file, line: line)
    }

    func testFourShardsOutOfOrderWithAKilledOneMergeLikeASingleRun() throws {
        let items = GalleryItem.channels(GalleryTests.layer, Array(0..<7))
        let single = folder(), shared = folder()
        _ = try build(single, items: items, batch: 3)
        for i in [2, 0, 3, 1] { _ = try build(shared, items: items, batch: i + 1, shard: (i, 4)) }

        let manifest = try XCTUnwrap(try ShardManifest.read(shared + "/shards/gallery-1-of-4.json"))
        XCTAssertEqual(manifest.items, [1, 5])
        XCTAssertTrue(manifest.complete)
        XCTAssertEqual(manifest.files.map(\.path), ["icons/c0001.png", "icons/c0001.json", "icons/c0005.png", "icons/c0005.json"])
        XCTAssertEqual(manifest.files[0].sha256, SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: shared + "/icons/c0001.png"))))
        let recipe = try GalleryRecipe(settings: manifest.settings)
        XCTAssertEqual(recipe.items.map(\.id), items.map(\.id))
        XCTAssertEqual(recipe.seed, "3")

        // Shard 1 killed midway: no manifest yet, one of its two icons never written.
        try FileManager.default.removeItem(atPath: shared + "/shards/gallery-1-of-4.json")
        try FileManager.default.removeItem(atPath: shared + "/icons/c0005.png")
        assertRefused(shared) { $0 == .missing(["shards/gallery-1-of-4.json"]) }
        let rerun = try build(shared, items: items, shard: (1, 4))
        XCTAssertEqual(rerun.rendered, 1)
        XCTAssertEqual(rerun.reused, 1)

        let merged = try merge(shared)
        XCTAssertEqual(merged.shardCount, 4)
        XCTAssertEqual(merged.filesVerified, 14)
        XCTAssertEqual(merged.index?.grids.first?.cells.count, 7)
        let expected = try outputFiles(single), got = try outputFiles(shared)
        XCTAssertEqual(got.keys.sorted(), expected.keys.sorted())
        for (path, bytes) in expected { XCTAssertEqual(got[path], bytes, path) }
        XCTAssertTrue(expected.keys.contains("atlas.json") && expected.keys.contains("index.html"))
    }

    func testRefusesMissingUnfinishedCorruptForeignAndOverlappingShards() throws {
        let items = GalleryItem.channels(GalleryTests.layer, [0, 4, 9])
        let dir = folder()
        assertRefused(dir) { if case .noManifests = $0 { return true }; return false }
        _ = try build(dir, items: items, shard: (1, 2))
        assertRefused(dir) { $0 == .missing(["shards/gallery-0-of-2.json"]) }
        _ = try build(dir, items: items, shard: (0, 2))

        // Corrupt: one byte of an icon flipped after its shard finished; a rerun re-renders just that icon.
        let icon = dir + "/icons/c0004.png"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: icon))
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: icon))
        assertRefused(dir) { $0 == .corrupt(["icons/c0004.png checksum mismatch (shard 1/2)"]) }
        let repaired = try build(dir, items: items, shard: (1, 2))
        XCTAssertEqual(repaired.rendered, 1)
        XCTAssertNoThrow(try ShardMerge.verify(dir))

        // Unfinished: a manifest that says so.
        let path = dir + "/shards/gallery-0-of-2.json"
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var m = try XCTUnwrap(try ShardManifest.read(path))
        m.complete = false
        try m.write(to: try OutputFolder(path: dir))
        assertRefused(dir) { $0 == .incomplete(["shards/gallery-0-of-2.json"]) }
        try good.write(to: URL(fileURLWithPath: path))

        // Overlap: a shard of a 3-way split of the same job lands in the folder.
        let other = folder()
        _ = try build(other, items: items, shard: (0, 3))
        try FileManager.default.copyItem(atPath: other + "/shards/gallery-0-of-3.json", toPath: dir + "/shards/gallery-0-of-3.json")
        assertRefused(dir) { $0 == .overlap(item: 0, "shards/gallery-0-of-2.json", "shards/gallery-0-of-3.json") }
        try FileManager.default.removeItem(atPath: dir + "/shards/gallery-0-of-3.json")

        // Another job: shard 1 rerun with another seed.
        _ = try build(dir, items: items, shard: (1, 2), seed: 4)
        assertRefused(dir) { e in
            guard case let .mismatch(a, b, fields) = e else { return false }
            return a == "shards/gallery-0-of-2.json" && b == "shards/gallery-1-of-2.json" && fields == ["seed ('3' vs '4')"]
        }
        XCTAssertFalse(ShardMergeError.mismatch("a", "b", []).isRetryable)
    }

    func testSettingsDifferencesNameTheField() {
        let a = JSONValue.object(["modelSHA256": .string("ab"), "items": .array([.int(1), .int(2)]), "size": .int(24)])
        let b = JSONValue.object(["modelSHA256": .string("cd"), "items": .array([.int(1)]), "size": .int(24)])
        XCTAssertEqual(a.differences(from: b), ["items (2 vs 1 entries)", "modelSHA256 ('ab' vs 'cd')"])
        XCTAssertEqual(a.differences(from: a), [])
    }
}
