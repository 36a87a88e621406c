import AtlasMap
import AtlasOutput
import Foundation
import XCTest

/// `atlas attribute`, `atlas activations` and `atlas graph` run as a user would, on the embedded Fashion-MNIST model.
extension CLITests {
    var fashion: String { CLITests.assets + "/fashion_cnn.onnx" }
    var fashionImages: String { CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz" }

    func testAttributeWritesOverlaysMapsAndAnOfflineContactSheet() throws {
        let dir = try temporaryDirectory()
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/broken.png"))
        let out = dir + "/ig"
        let (stdout, _) = try run(["attribute", fashion, fashionImages, dir + "/broken.png", "--limit", "3", "--method", "integrated-gradients",
                                   "--steps", "128", "--batch", "2", "--json", "--out", out])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["images"] as? Int, 2, "--limit counts candidates in input order: broken.png, then two IDX images")
        XCTAssertEqual((report["skipped"] as? [[String: String]])?.first?["file"], dir + "/broken.png")
        let results = try XCTUnwrap(report["results"] as? [[String: Any]])
        for r in results {
            let map = try XCTUnwrap((r["maps"] as? [[String: Any]])?.first)
            for key in ["overlay", "map"] { XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + (map[key] as! String))) }
            XCTAssertEqual(map["class"] as? Int, ((r["top"] as? [[String: Any]])?.first?["class"] as? Int), "explains the top class")
            // Completeness on the real model (ReLU kinks; 128 steps): within 1.5% of the logit difference.
            let sum = try XCTUnwrap(map["sum"] as? Double), delta = try XCTUnwrap(map["logit_delta"] as? Double)
            XCTAssertEqual(sum, delta, accuracy: 0.015 * abs(delta))
        }
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("src=\"/"), "offline, relative paths")
        XCTAssertTrue(html.contains("broken.png"), "skipped files are listed")
        let npy = try Data(contentsOf: URL(fileURLWithPath: out + "/" + ((results[0]["maps"] as! [[String: Any]])[0]["map"] as! String)))
        XCTAssertEqual(npy.count, 128 + 28 * 28 * 4, "a 28×28 float32 map")
    }

    /// A rerun after an interruption loads finished images and recomputes the rest: the folder and the --json
    /// results equal an uninterrupted run's byte for byte; other settings are refused.
    func testAttributeResumesAnInterruptedRun() throws {
        let dir = try temporaryDirectory()
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/broken.png"))
        // 16 items in chunks of 4: {broken.png, #0…#2}, {#3…#6}, {#7…#10}, {#11…#14}.
        func attribute(_ out: String) throws -> [String: Any] {
            let (stdout, _) = try run(["attribute", fashion, dir + "/broken.png", fashionImages, "--limit", "16", "--batch", "4", "--json",
                                       "--out", out])
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        }
        let (a, b) = (dir + "/a", dir + "/b")
        let full = try attribute(a)
        XCTAssertEqual(full["images"] as? Int, 15)
        XCTAssertEqual(full["reused"] as? Int, 0)
        _ = try attribute(b)
        // A kill: records of items 5, 6 (chunk 1) and 10 (chunk 2) never written, an overlay of item 9 (chunk 2) gone.
        let names = try FileManager.default.contentsOfDirectory(atPath: b).sorted()
        for prefix in ["0006-", "0007-", "0011-"] { try FileManager.default.removeItem(atPath: b + "/" + names.first { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }!) }
        try FileManager.default.removeItem(atPath: b + "/" + names.first { $0.hasPrefix("0010-") && $0.hasSuffix(".png") && !$0.contains("input") }!)
        let kept = b + "/" + names.first { $0.hasPrefix("0013-") && $0.hasSuffix(".input.png") }!
        let inode = try FileManager.default.attributesOfItem(atPath: kept)[.systemFileNumber] as? UInt64

        let resumed = try attribute(b)
        XCTAssertEqual(resumed["reused"] as? Int, 7, "chunk 0's three images (after decoding broken.png again) and chunk 3's four")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: kept)[.systemFileNumber] as? UInt64, inode, "not rewritten")
        try assertSameFiles(a, b)
        func results(_ report: [String: Any]) throws -> Data {
            try JSONSerialization.data(withJSONObject: report.filter { ["images", "results", "settings", "skipped"].contains($0.key) },
                                       options: [.sortedKeys])
        }
        XCTAssertEqual(String(decoding: try results(full), as: UTF8.self), String(decoding: try results(resumed), as: UTF8.self))
        XCTAssertEqual((resumed["results"] as? [Any])?.count, 15)
        XCTAssertEqual((resumed["skipped"] as? [[String: String]])?.first?["file"], dir + "/broken.png")

        let settings = try Data(contentsOf: URL(fileURLWithPath: b + "/job.json"))
        let (_, refusal) = try run(["attribute", fashion, fashionImages, "--method", "gradxinput", "--out", b], expect: 65)
        XCTAssertTrue(refusal.contains("method (") && refusal.contains("saliency"), refusal)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: b + "/job.json")), settings, "the refused run changed nothing")
    }

    func testActivationsAndGraphOutputs() throws {
        let dir = try temporaryDirectory()
        let (stdout, _) = try run(["activations", fashion, fashionImages + "#3", "--layer", "features.conv3.2", "--rank", "mean", "--json",
                                   "--out", dir + "/acts"])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        let values = try XCTUnwrap(report["channels"] as? [[String: Any]]).compactMap { $0["value"] as? Double }
        XCTAssertEqual(values.count, 64)
        XCTAssertEqual(values, values.sorted(by: >), "ranked by mean activation")
        let index = try AtlasIndex.decode(Data(contentsOf: URL(fileURLWithPath: dir + "/acts/atlas.json")))
        XCTAssertEqual(index.kind, .activations)
        try OutputFolder.validate(index)

        try run(["graph", fashion, "--out", dir + "/m.dot"])
        let dot = try String(contentsOfFile: dir + "/m.dot", encoding: .utf8)
        XCTAssertEqual(dot.components(separatedBy: " -> ").count - 1, 16, "16 tensors between 17 nodes")
        try run(["graph", fashion, "--layout", "dot", "--out", dir + "/m.svg"], expect: 69, environment: ["PATH": dir])
        let (_, note) = try run(["graph", fashion, "--out", dir + "/m.svg"], environment: ["PATH": dir])
        XCTAssertTrue(note.contains("built-in layout"), note)
        XCTAssertEqual(try String(contentsOfFile: dir + "/m.svg", encoding: .utf8).components(separatedBy: "<g class=\"node\">").count - 1, 17)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            try run(["graph", fashion, "--out", dir + "/m.html"])
            XCTAssertTrue(try String(contentsOfFile: dir + "/m.html", encoding: .utf8).contains("<svg"))
        }
    }

    func testExplainExitCodesForBadInput() throws {
        let dir = try temporaryDirectory()
        try run(["attribute", dir + "/missing.onnx", fashionImages, "--out", dir + "/a"], expect: 66)
        try run(["attribute", fashion, fashionImages, "--method", "magic", "--out", dir + "/a"], expect: 64)
        try run(["attribute", fashion, fashionImages, "--limit", "1", "--class", "10", "--out", dir + "/a"], expect: 64)
        try run(["attribute", fashion, fashionImages, "--method", "gradcam", "--layer", "classifier", "--out", dir + "/a"], expect: 64)
        try run(["attribute", fashion, fashionImages, "--method", "gradcam", "--layer", "no.such", "--out", dir + "/a"], expect: 64)
        try run(["attribute", fashion, fashionImages, "--class", "1", "--top", "2", "--out", dir + "/a"], expect: 64)
        try run(["activations", fashion, dir + "/missing.png", "--layer", "features.conv3.2", "--out", dir + "/b"], expect: 66)
        try run(["activations", fashion, fashionImages + "#0", "--layer", "nope", "--out", dir + "/b"], expect: 64)
        try run(["activations", fashion, fashionImages + "#0", "--layer", "features.conv3.2", "--gallery", dir, "--out", dir + "/b"], expect: 66)
        try run(["graph", fashion, "--out", dir + "/m.txt"], expect: 64)
        try run(["graph", fashion, "--layout", "circo", "--out", dir + "/m.svg"], expect: 64)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/bad.onnx"))
        try run(["graph", dir + "/bad.onnx", "--out", dir + "/m.svg"], expect: 65)
    }
}
