import AtlasMap
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
