import Foundation
import XCTest

/// `--param maco` (importance maps beside the icons, scores and their median in the index, sharding) and
/// `visualize --from` (feature accentuation) as a user runs them.
extension CLITests {
    static let macoGallery = ["gallery", model, "--layer", "features.conv3.0", "--channels", "0..3", "--size", "24", "--steps", "4",
                              "--param", "maco", "--lr", "0.1", "--format", "png", "--quiet"]

    func testMacoGalleryWritesImportanceScoresAndShardsMerge() throws {
        let dir = try temporaryDirectory()
        let images = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"
        let (stdout, _) = try run(Self.macoGallery + ["--out", dir + "/single", "--json", "--images", images, "--images-limit", "16"])
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        let scores = try XCTUnwrap(summary["scores"] as? [Double])
        XCTAssertEqual(scores.count, 4)
        let median = try XCTUnwrap(summary["objective_median"] as? Double)
        XCTAssertEqual(median, 0.5 * (scores.sorted()[1] + scores.sorted()[2]), accuracy: 1e-9)
        for c in 0..<4 {
            let icon = dir + "/single/icons/c000\(c)"
            XCTAssertTrue(FileManager.default.fileExists(atPath: icon + ".importance.png"), icon)
        }
        // The index records each icon's score and the median; quality.json the comparison with the images.
        let index = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/single/atlas.json"))) as? [String: Any])
        let settings = try XCTUnwrap(index["settings"] as? [String: Any])
        XCTAssertEqual(settings["objective_median"] as? Double ?? .nan, median, accuracy: 1e-9)
        XCTAssertEqual(settings["param"] as? String, "maco")
        XCTAssertEqual(settings["transforms"] as? String, "maco")
        let cells = try XCTUnwrap(((index["grids"] as? [[String: Any]])?.first?["cells"]) as? [[String: Any]])
        XCTAssertEqual(cells.compactMap { $0["value"] as? Double }, scores)
        let quality = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/single/quality.json"))) as? [String: Any])
        XCTAssertEqual(quality["images"] as? Int, 16)
        let rows = try XCTUnwrap(quality["icons"] as? [[String: Any]])
        for (row, score) in zip(rows, scores) {
            if let best = row["natural_best"] as? Double, best > 0 {
                XCTAssertEqual(row["relative"] as? Double ?? .nan, score / best, accuracy: 1e-9)
            }
        }
        // Shards and a merge give the same bytes as one run (importance maps included).
        try run(Self.macoGallery + ["--out", dir + "/plain"])
        try run(Self.macoGallery + ["--out", dir + "/shared", "--shard", "0/2", "--threads", "1"])
        try run(Self.macoGallery + ["--out", dir + "/shared", "--shard", "1/2", "--batch", "1"])
        try run(["merge", dir + "/shared", "--quiet"])
        let plain = outputFiles(dir + "/plain"), merged = outputFiles(dir + "/shared")
        XCTAssertEqual(merged.keys.sorted(), plain.keys.sorted())
        XCTAssertEqual(merged, plain)
        XCTAssertTrue(plain.keys.contains("icons/c0002.importance.png"))
    }

    func testVisualizeMacoAndAccentuation() throws {
        let dir = try temporaryDirectory()
        let (out, _) = try run(["visualize", Self.model, "--layer", "features.conv3.0", "--channel", "2", "--size", "28", "--steps", "4",
                                "--param", "maco", "--out", dir + "/v.png", "--json", "--quiet",
                                "--images", CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz", "--images-limit", "8"])
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let best = try XCTUnwrap(summary["natural_best"] as? Double), vscore = try XCTUnwrap((summary["scores"] as? [Double])?.first)
        if best > 0 { XCTAssertEqual((summary["relative"] as? [Double])?.first ?? .nan, vscore / best, accuracy: 1e-9) }
        XCTAssertEqual(summary["learning_rate"] as? Double ?? 0, 0.1, accuracy: 1e-7, "maco's default learning rate")
        XCTAssertEqual(summary["importance"] as? String, dir + "/v.importance.png")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/v.importance.png"))
        XCTAssertEqual((summary["scores"] as? [Double])?.count, 1)
        // Accentuate the same channel in that picture; a huge weight gives the seed back.
        let (acc, _) = try run(["visualize", Self.model, "--layer", "features.conv3.0", "--channel", "2", "--size", "28", "--steps", "4",
                                "--from", dir + "/v.png", "--accentuate-weight", "1e9", "--out", dir + "/a.png", "--json", "--quiet"])
        let a = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(acc.utf8)) as? [String: Any])
        XCTAssertEqual(a["accentuate_layer"] as? String, "/features/conv1/conv1.0/Conv_output_0")
        let seedScore = try XCTUnwrap(a["seed_score"] as? Double), held = try XCTUnwrap((a["scores"] as? [Double])?.first)
        let (freeOut, _) = try run(["visualize", Self.model, "--layer", "features.conv3.0", "--channel", "2", "--size", "28", "--steps", "4",
                                    "--from", dir + "/v.png", "--accentuate-weight", "0", "--out", dir + "/f.png", "--json", "--quiet"])
        let free = try XCTUnwrap(((try JSONSerialization.jsonObject(with: Data(freeOut.utf8)) as? [String: Any])?["scores"] as? [Double])?.first)
        XCTAssertGreaterThan(free, seedScore, "weight 0 accentuates the channel")
        XCTAssertLessThan(abs(held - seedScore), abs(free - seedScore), "a huge weight stays near the seed")
        let (_, bad) = try run(["visualize", Self.model, "--class", "1", "--from", dir + "/missing.png", "--out", dir + "/b.png"], expect: 66)
        XCTAssertTrue(bad.contains("not found"), bad)
        try run(["visualize", Self.model, "--class", "1", "--param", "nope", "--out", dir + "/b.png"], expect: 64)
    }
}
