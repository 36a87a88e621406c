/// The one resume rule of output folders (`JobFolder`): same recipe resumes, another recipe is refused or takes the
/// folder over by the job's reuse policy, another command's folder is refused, and shard manifests carry the record's
/// fingerprint.
import AtlasJobs
import AtlasOutput
import Foundation
import XCTest

final class JobFolderTests: XCTestCase {
    struct Recipe: Codable { var layer: String; var seed: Int; var size: Int? }

    func folder() throws -> OutputFolder {
        let path = NSTemporaryDirectory() + "atlas-jobfolder-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return try OutputFolder(path: path)
    }

    func recordBytes(_ f: OutputFolder) -> Data? { FileManager.default.contents(atPath: f.file(JobFolder.recordPath)) }

    func testSameRecipeResumesAndCleansTemporariesOfOneMachineRuns() throws {
        let f = try folder()
        let recipe = Recipe(layer: "conv1", seed: 1, size: nil)
        let first = try JobFolder(f, kind: "gallery", recipe: recipe, reuse: .itemKeys)
        XCTAssertFalse(first.resumed)
        XCTAssertEqual(first.record.fingerprint, try CanonicalJSON.sha256(recipe))
        XCTAssertEqual(try JobFolder.read(f), first.record)

        for dir in ["icons", "units/l/crops", "tiles/g/0", "a/b/c/d"] { try OutputFolder.makeDirectory(f.file(dir)) }
        let temporaries = [".c0001.png.tmp-Ab12Cd", "icons/.c0002.json.tmp-x9y8z7", "units/l/crops/.0-t0.jpg.tmp-q1w2e3"]
        let kept = ["icons/c0001.png", "icons/.hidden", "icons/c.tmp-abcdef", ".a.tmp-short",
                    "tiles/g/0/.0_0.png.tmp-a1b2c3", "a/b/c/d/.deep.tmp-a1b2c3"]
        for name in temporaries + kept { try f.write([1], to: name) }
        XCTAssertTrue(try JobFolder(f, kind: "gallery", recipe: recipe, reuse: .itemKeys, shard: true).resumed)
        for name in temporaries + kept { XCTAssertTrue(FileManager.default.fileExists(atPath: f.file(name)), "a shard removed \(name)") }
        XCTAssertTrue(try JobFolder(f, kind: "gallery", recipe: recipe, reuse: .itemKeys).resumed)
        for name in temporaries { XCTAssertFalse(FileManager.default.fileExists(atPath: f.file(name)), name) }
        for name in kept { XCTAssertTrue(FileManager.default.fileExists(atPath: f.file(name)), name) }
    }

    func testAnotherRecipeIsRefusedWhileItemsAreValidOnlyForTheirJob() throws {
        let f = try folder()
        var holds = false
        let reuse = JobReuse.sameJobOnly(holdsItems: { _ in holds })
        _ = try JobFolder(f, kind: "collect", recipe: Recipe(layer: "conv1", seed: 1, size: 64), reuse: reuse)
        let before = recordBytes(f)
        holds = true
        XCTAssertThrowsError(try JobFolder(f, kind: "collect", recipe: Recipe(layer: "conv1", seed: 2, size: nil), reuse: reuse)) { error in
            XCTAssertEqual(error as? JobError, .otherJob(folder: f.path, kind: "collect", differences: ["seed (2 vs 1)", "size (none vs 64)"]))
            XCTAssertTrue("\(error)".contains("seed (2 vs 1)"), "\(error)")
        }
        XCTAssertEqual(recordBytes(f), before, "a refused job changed the record")
        // An empty folder (no finished items) is taken over.
        holds = false
        let taken = try JobFolder(f, kind: "collect", recipe: Recipe(layer: "conv1", seed: 2, size: nil), reuse: reuse)
        XCTAssertFalse(taken.resumed)
        XCTAssertEqual(try JobFolder.read(f)?.fingerprint, taken.record.fingerprint)
        // Items without any record (an older folder) are not guessed to be this job's.
        try FileManager.default.removeItem(atPath: f.file(JobFolder.recordPath))
        holds = true
        XCTAssertThrowsError(try JobFolder(f, kind: "collect", recipe: Recipe(layer: "conv1", seed: 2, size: nil), reuse: reuse)) { error in
            guard case .otherJob = error as? JobError else { return XCTFail("\(error)") }
        }
    }

    func testKeyedItemsLetAnotherRecipeTakeTheFolderOverButNotAnotherCommand() throws {
        let f = try folder()
        let a = try JobFolder(f, kind: "map", recipe: Recipe(layer: "conv1", seed: 1, size: nil), reuse: .itemKeys)
        let b = try JobFolder(f, kind: "map", recipe: Recipe(layer: "conv2", seed: 1, size: nil), reuse: .itemKeys)
        XCTAssertFalse(b.resumed)
        XCTAssertEqual(b.replaced, a.record)
        XCTAssertEqual(b.differences(from: a.record), ["layer ('conv2' vs 'conv1')"])
        XCTAssertEqual(try JobFolder.read(f), b.record)
        XCTAssertThrowsError(try JobFolder(f, kind: "gallery", recipe: Recipe(layer: "conv2", seed: 1, size: nil), reuse: .itemKeys)) { error in
            XCTAssertEqual(error as? JobError, .otherKind(folder: f.path, kind: "map"))
        }
        try f.write(Array("{\"kind\": 3}".utf8), to: JobFolder.recordPath)
        XCTAssertThrowsError(try JobFolder(f, kind: "map", recipe: Recipe(layer: "conv2", seed: 1, size: nil), reuse: .itemKeys)) { error in
            guard case .badRecord = error as? JobError else { return XCTFail("\(error)") }
        }
    }

    func testShardManifestsCarryTheRecordsFingerprintAndSettings() throws {
        let f = try folder()
        let job = try JobFolder(f, kind: "units", recipe: Recipe(layer: "conv1", seed: 7, size: 32), reuse: .itemKeys, shard: true)
        XCTAssertNil(try job.shardLog(nil, total: 4))
        let log = try XCTUnwrap(try job.shardLog(try ShardSpec(index: 1, count: 2), total: 4))
        try log.write(complete: false)
        let manifest = try XCTUnwrap(try ShardManifest.read(f.file(ShardManifest.path(kind: "units", spec: try ShardSpec(index: 1, count: 2)))))
        XCTAssertEqual(manifest.fingerprint, job.record.fingerprint)
        XCTAssertEqual(manifest.settings, job.record.settings)
        XCTAssertEqual(manifest.items, [1, 3])
    }
}
