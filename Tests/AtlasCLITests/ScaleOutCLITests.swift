import Foundation
import XCTest

/// `atlas gallery|collect|map --shard`, `atlas merge` and `atlas plan` as a user runs them: shards and a merge
/// equal a single run byte for byte, and refusals exit with the documented codes.
extension CLITests {
    static let model = CLITests.assets + "/fashion_cnn.onnx"
    static let smallGallery = ["gallery", model, "--layer", "features.conv3.0", "--channels", "0..4", "--size", "24", "--steps", "3",
                          "--format", "png", "--quiet"]

    /// Relative path → bytes of every file under `dir` outside `shards/`.
    func outputFiles(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if !rel.hasPrefix("shards"), FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = FileManager.default.contents(atPath: dir + "/" + rel)
            }
        }
        return out
    }

    func testShardsThenMergeEqualASingleRun() throws {
        let dir = try temporaryDirectory()
        try run(Self.smallGallery + ["--out", dir + "/single"])
        let (_, notReady) = try run(["merge", dir + "/shared"], expect: 66)
        XCTAssertTrue(notReady.contains("not a folder"), notReady)
        try run(Self.smallGallery + ["--out", dir + "/shared", "--shard", "1/2"])
        let (_, missing) = try run(["merge", dir + "/shared"], expect: 75)
        XCTAssertTrue(missing.contains("shards missing: shards/gallery-0-of-2.json"), missing)
        try run(Self.smallGallery + ["--out", dir + "/shared", "--shard", "0/2", "--batch", "1"])
        try run(["merge", dir + "/shared", "--check", "--quiet"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/shared/atlas.json"))

        try Data("truncated".utf8).write(to: URL(fileURLWithPath: dir + "/shared/icons/c0003.png"))
        let (_, corrupt) = try run(["merge", dir + "/shared"], expect: 75)
        XCTAssertTrue(corrupt.contains("icons/c0003.png checksum mismatch (shard 1/2)"), corrupt)
        try run(Self.smallGallery + ["--out", dir + "/shared", "--shard", "1/2"])

        let (stdout, _) = try run(["merge", dir + "/shared", "--json"])
        let summary = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        XCTAssertEqual(summary?["shards"] as? Int, 2)
        XCTAssertEqual(summary?["files_verified"] as? Int, 10)
        let single = outputFiles(dir + "/single"), merged = outputFiles(dir + "/shared")
        XCTAssertEqual(merged.keys.sorted(), single.keys.sorted())
        XCTAssertEqual(merged, single)
        XCTAssertTrue(single.keys.contains("atlas.json") && single.keys.contains("icons/c0004.png"), "\(single.keys.sorted())")

        try run(Self.smallGallery + ["--out", dir + "/shared", "--shard", "1/2", "--seed", "9"])
        let (_, foreign) = try run(["merge", dir + "/shared"], expect: 65)
        XCTAssertTrue(foreign.contains("seed ('0' vs '9')"), foreign)
    }

    func testShardAndPlanUsageErrors() throws {
        let dir = try temporaryDirectory()
        let (_, auto) = try run(Self.smallGallery + ["--out", dir, "--shard", "auto"], expect: 64)
        XCTAssertTrue(auto.contains("SLURM_ARRAY_TASK_ID"), auto)
        let (_, range) = try run(Self.smallGallery + ["--out", dir, "--shard", "4/4"], expect: 64)
        XCTAssertTrue(range.contains("0 ≤ i < n"), range)
        try run(["plan", "slurm", "--shards", "4", "--", "gallery", Self.model, "--layer", "x"], expect: 64)
        let (script, _) = try run(["plan", "slurm", "--shards", "4", "--cpus", "2", "--", "gallery", Self.model, "--layer", "x", "--out", dir + "/o"])
        XCTAssertTrue(script.contains("#SBATCH --array=0-3"), script)
        let (yaml, _) = try run(["plan", "k8s", "--shards", "3", "--", "gallery", "/data/m.onnx", "--layer", "x", "--out", "/data/out"])
        XCTAssertTrue(yaml.contains("completions: 3") && yaml.contains("\"auto/3\""), yaml)
    }

    func testCollectAndMapShardsThenMergeEqualSingleRuns() throws {
        let dir = try temporaryDirectory()
        let images = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"
        let collect = ["collect", Self.model, "--images", images, "--layer", "features.conv4.0", "--limit", "150", "--part-images", "40",
                       "--attribution", "logit", "--quiet"]
        try run(collect + ["--out", dir + "/acts1"])
        let (shard, _) = try run(collect + ["--out", dir + "/acts3", "--shard", "0/3", "--json"])
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(shard.utf8)) as? [String: Any])
        XCTAssertEqual(first["parts"] as? Int, 2)      // parts 0 and 3 of 4
        XCTAssertEqual(first["rows"] as? Int, 40 + 30)
        XCTAssertEqual(first["manifest"] as? String, dir + "/acts3/shards/collect-0-of-3.json")
        let (_, missing) = try run(["merge", dir + "/acts3"], expect: 75)
        XCTAssertTrue(missing.contains("shards missing: shards/collect-1-of-3.json, shards/collect-2-of-3.json"), missing)
        for i in [2, 1] { try run(collect + ["--out", dir + "/acts3", "--shard", "\(i)/3"]) }
        let (merged, _) = try run(["merge", dir + "/acts3", "--json"])
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(merged.utf8)) as? [String: Any])
        XCTAssertEqual(summary["kind"] as? String, "collect")
        XCTAssertEqual(summary["files_verified"] as? Int, 12)
        XCTAssertEqual(summary["assembled"] as? Bool, true)
        let single = outputFiles(dir + "/acts1")
        XCTAssertEqual(single.count, 10)   // job.json, collect.json and 4 parts × (npy, jsonl)
        XCTAssertEqual(outputFiles(dir + "/acts3"), single)

        // map: collection and layout once (--layout-only), two icon shards, merge = one run, activations/ included.
        let map = ["map", Self.model, "--images", images, "--layer", "features.conv4.0", "--limit", "150", "--attribution", "logit",
                   "--reduce", "pca", "--grid", "3,4", "--min-count", "2", "--icon-size", "16", "--steps", "2", "--format", "png", "--quiet"]
        try run(map + ["--out", dir + "/single"])
        try run(map + ["--out", dir + "/shared", "--layout-only"])
        try run(map + ["--out", dir + "/shared", "--shard", "1/2"])
        let (_, notReady) = try run(["merge", dir + "/shared"], expect: 75)
        XCTAssertTrue(notReady.contains("shards missing: shards/map-0-of-2.json"), notReady)
        let (json, _) = try run(map + ["--out", dir + "/shared", "--shard", "0/2", "--json"])
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(result["assembled"] as? Bool, false)
        XCTAssertEqual(result["layout_reused"] as? Bool, true)
        XCTAssertGreaterThan(result["icons_rendered"] as? Int ?? 0, 0)
        try run(["merge", dir + "/shared", "--quiet"])
        let atlas = outputFiles(dir + "/single")
        XCTAssertTrue(atlas.keys.contains("activations/collect.json") && atlas.keys.contains("atlas.json"), "\(atlas.keys.sorted())")
        XCTAssertEqual(outputFiles(dir + "/shared"), atlas)

        let (_, both) = try run(map + ["--out", dir + "/x", "--shard", "0/2", "--layout-only"], expect: 64)
        XCTAssertTrue(both.contains("not both"), both)
    }
}
