/// `atlas attention` and transformer attribution through the command line, on the small ViT of
/// Tests/AtlasNetTests/Fixtures/transformers and the sample photos: files, `--json` fields, skipped files, the
/// nodes it names, the same bytes at 1 and 2 threads, and the documented exit codes.
import Foundation
import XCTest

extension CLITests {
    static var photos: String { repo.appendingPathComponent("Assets/imagenet/photos").path }

    func testAttentionWritesMapsRolloutAndContactSheet() throws {
        let dir = try temporaryDirectory()
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/broken.png"))
        let (stdout, stderr) = try run(["attention", CLITests.vit, CLITests.photos, dir + "/broken.png", "--rollout", "--batch", "3",
                                        "--threads", "1", "--json", "--out", dir + "/a"])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["images"] as? Int, 4)
        XCTAssertEqual(report["grid"] as? [Int], [4, 4])
        XCTAssertEqual(report["class_tokens"] as? Int, 1)
        XCTAssertEqual(report["query"] as? String, "class")
        let sites = try XCTUnwrap(report["sites"] as? [[String: Any]])
        XCTAssertEqual(sites.map { $0["softmax"] as? String }, (0..<2).map { "/encoder/layers/encoder_layer_\($0)/self_attention/Softmax" })
        XCTAssertEqual(sites.map { $0["value_product"] as? String }, (0..<2).map { "/encoder/layers/encoder_layer_\($0)/self_attention/MatMul_2" })
        XCTAssertEqual(sites.map { $0["heads"] as? Int }, [2, 2])
        XCTAssertEqual((report["skipped"] as? [[String: String]])?.map { $0["file"] }, [dir + "/broken.png"])
        XCTAssertTrue(stderr.contains("layer 1: /encoder/layers/encoder_layer_1/self_attention/Softmax → /encoder/layers/encoder_layer_1/self_attention/MatMul_2"),
                      "names the nodes it uses: \(stderr)")
        let results = try XCTUnwrap(report["results"] as? [[String: Any]])
        let maps = try XCTUnwrap(results.first?["maps"] as? [[String: Any]])
        XCTAssertEqual(maps.count, 2 * (2 + 1) + 1, "per layer two heads and their mean, then the rollout")
        XCTAssertEqual(maps.last?["rollout"] as? Bool, true)
        for m in maps {
            for key in ["overlay", "map"] { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/a/" + (m[key] as! String)), "\(m)") }
            let npy = try Data(contentsOf: URL(fileURLWithPath: dir + "/a/" + (m["map"] as! String)))
            XCTAssertEqual(npy.count, 128 + 4 * 4 * 4, "a 4×4 float32 patch-grid map")
            // Class-token attention over the 16 patches: between 0 and 1 (the rest goes to the class token itself).
            let sum = try XCTUnwrap(m["sum"] as? Double)
            XCTAssertTrue(sum > 0 && sum <= 1.000001, "\(m)")
        }
        let html = try String(contentsOfFile: dir + "/a/index.html", encoding: .utf8)
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("src=\"/"), "offline, relative paths")
        XCTAssertTrue(html.contains("broken.png") && html.contains("layer 1 · head 0") && html.contains("rollout"))

        // Two threads, another batch size, no --json: the same files, byte for byte.
        let (_, quiet) = try run(["attention", CLITests.vit, CLITests.photos, dir + "/broken.png", "--rollout", "--batch", "2",
                                  "--threads", "2", "--quiet", "--out", dir + "/b"])
        XCTAssertEqual(quiet, "skipped 1 file(s):\n  \(dir)/broken.png: no PNG or JPEG signature (starts with 6e 6f 74 20)\n",
                       "--quiet: no progress or notes, only the skipped files (as attribute)")
        try assertSameFiles(dir + "/a", dir + "/b")

        // One layer, mean over heads, a patch query.
        let (one, _) = try run(["attention", CLITests.vit, CLITests.photos + "/chelsea.jpg", "--layer", "encoder.layers.encoder_layer_1",
                                "--mean-heads", "--query", "5", "--json", "--quiet", "--out", dir + "/c"])
        let r = try XCTUnwrap((try XCTUnwrap(JSONSerialization.jsonObject(with: Data(one.utf8)) as? [String: Any]))["results"] as? [[String: Any]])
        XCTAssertEqual((r.first?["maps"] as? [[String: Any]])?.map { $0["map"] as? String }, ["0001-chelsea.L01.mean.npy"])
    }

    /// A rerun after an interruption loads the finished images and computes the rest: the folder and the --json
    /// results equal an uninterrupted run's byte for byte; other settings into the same folder are refused (65).
    func testAttentionResumesAnInterruptedRun() throws {
        let dir = try temporaryDirectory()
        func attention(_ out: String, _ extra: [String] = [], expect: Int32 = 0) throws -> (report: [String: Any]?, stderr: String) {
            let (stdout, stderr) = try run(["attention", CLITests.vit, CLITests.photos, "--rollout", "--batch", "1", "--json", "--out", out] + extra,
                                           expect: expect)
            return (try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], stderr)
        }
        let (a, b) = (dir + "/a", dir + "/b")
        let full = try XCTUnwrap(try attention(a).report)
        XCTAssertEqual(full["reused"] as? Int, 0)
        _ = try attention(b)
        XCTAssertTrue(FileManager.default.fileExists(atPath: b + "/job.json"), "the recipe is stored in the folder")
        // A kill: image 3's record never written, one of image 2's overlays gone; images 1 and 4 are finished.
        let names = try FileManager.default.contentsOfDirectory(atPath: b).sorted()
        try FileManager.default.removeItem(atPath: b + "/" + names.first { $0.hasPrefix("0003-") && $0.hasSuffix(".json") }!)
        try FileManager.default.removeItem(atPath: b + "/" + names.first { $0.hasPrefix("0002-") && $0.hasSuffix(".L01.h1.png") }!)
        let kept = b + "/" + names.first { $0.hasPrefix("0004-") && $0.hasSuffix(".rollout.npy") }!
        let inode = try FileManager.default.attributesOfItem(atPath: kept)[.systemFileNumber] as? UInt64

        let resumed = try XCTUnwrap(try attention(b).report)
        XCTAssertEqual(resumed["reused"] as? Int, 2, "images 1 and 4")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: kept)[.systemFileNumber] as? UInt64, inode, "not rewritten")
        try assertSameFiles(a, b)
        func results(_ report: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: report.filter { ["images", "results", "settings", "sites"].contains($0.key) },
                                                        options: [.sortedKeys]), as: UTF8.self)
        }
        XCTAssertEqual(try results(full), try results(resumed))

        let job = try Data(contentsOf: URL(fileURLWithPath: b + "/job.json"))
        for (extra, field) in [(["--mean-heads"], "meanHeads ("), (["--query", "3"], "query ("), (["--layer", "0"], "layers")] {
            let (_, refusal) = try attention(b, extra, expect: 65)
            XCTAssertTrue(refusal.contains(field) && refusal.contains("other settings"), refusal)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: b + "/job.json")), job, "the refused runs changed nothing")
    }

    /// Swin (the small torchvision Swin exported at batch 1): stage 1's windowed blocks are mapped onto their 8×8
    /// grid, chosen by torchvision module path; what cannot be asked of windows is refused (64).
    func testAttentionOnSwinWindows() throws {
        let dir = try temporaryDirectory()
        let swin = CLITests.repo.appendingPathComponent("Tests/AtlasNetTests/Fixtures/transformers/swin_batch1.onnx").path
        let image = CLITests.photos + "/chelsea.jpg"
        let (stdout, stderr) = try run(["attention", swin, image, "--layer", "features.1.1.attn", "--query", "63", "--json", "--out", dir + "/a"])
        XCTAssertTrue(stderr.contains("layer 1: /features/features.1/features.1.1/attn/Softmax → /features/features.1/features.1.1/attn/MatMul_2, "
                                      + "2 heads, windowed: 4 windows of 4×4 on the 8×8 token grid"), stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        let sites = try XCTUnwrap(report["sites"] as? [[String: Any]])
        XCTAssertEqual(sites.map { $0["chosen"] as? Bool }, [false, true, false, false])
        XCTAssertEqual(sites.map { $0["grid"] as? [Int] }, [[8, 8], [8, 8], [4, 4], [4, 4]])
        XCTAssertEqual((sites[1]["windows"] as? [String: Any])?["count"] as? Int, 4)
        let maps = try XCTUnwrap((report["results"] as? [[String: Any]])?.first?["maps"] as? [[String: Any]])
        XCTAssertEqual(maps.map { $0["map"] as? String }, ["0001-chelsea.L01.h0.npy", "0001-chelsea.L01.h1.npy", "0001-chelsea.L01.mean.npy"])
        for m in maps {
            XCTAssertEqual(try XCTUnwrap(m["sum"] as? Double), 1, accuracy: 1e-5, "a patch's row of its window")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/a/" + (m["map"] as! String))).count, 128 + 8 * 8 * 4)
        }
        let (stage, _) = try run(["attention", swin, image, "--layer", "features.1", "--json", "--quiet", "--out", dir + "/b"])
        let both = try XCTUnwrap((try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stage.utf8)) as? [String: Any]))["sites"] as? [[String: Any]])
        XCTAssertEqual(both.map { $0["chosen"] as? Bool }, [true, true, false, false], "a module path names every site inside it")
        let (_, rollout) = try run(["attention", swin, image, "--layer", "features.1", "--rollout", "--out", dir + "/r"], expect: 64)
        XCTAssertTrue(rollout.contains("rollout needs global attention"), rollout)
        let (_, range) = try run(["attention", swin, image, "--query", "63", "--out", dir + "/q"], expect: 64)
        XCTAssertTrue(range.contains("out of range for layer 2: its grid is 4×4"), range)
        try run(["attention", swin, image, "--query", "class", "--out", dir + "/c"], expect: 64)
    }

    func testAttentionRefusals() throws {
        let dir = try temporaryDirectory()
        let image = CLITests.photos + "/chelsea.jpg"
        let (_, cnn) = try run(["attention", fashion, fashionImages, "--limit", "1", "--out", dir + "/cnn"], expect: 65)
        XCTAssertTrue(cnn.contains("no attention"), cnn)
        let (_, size) = try run(["attention", CLITests.vit, image, "--size", "48", "--out", dir + "/s"], expect: 65)
        XCTAssertTrue(size.contains("node '"), "names the node: \(size)")
        try run(["attention", CLITests.vit, image, "--head", "2", "--out", dir + "/h"], expect: 64)
        try run(["attention", CLITests.vit, image, "--query", "16", "--out", dir + "/q"], expect: 64)
        try run(["attention", CLITests.vit, image, "--layer", "7", "--out", dir + "/l"], expect: 64)
        try run(["attention", CLITests.vit, image, "--head", "0", "--mean-heads", "--out", dir + "/m"], expect: 64)
        // The mistakes of testSameMistakeSameExitCodeInEveryCommand, with the README's codes.
        let codes = try readmeExitCodes()
        try Data("garbage, not protobuf".utf8).write(to: URL(fileURLWithPath: dir + "/bad.onnx"))
        try Data("a file, not a folder".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        let out = ["--out", dir + "/o", "--quiet"]
        try run(["attention", CLITests.vit, image, "--layer", "no.such.layer"] + out, expect: codes["bad usage"]!)
        try run(["attention", dir + "/missing.onnx", image] + out, expect: codes["input missing"]!)
        let (_, bad) = try run(["attention", dir + "/bad.onnx", image] + out, expect: codes["bad input data"]!)
        XCTAssertTrue(bad.contains("atlas: error:") && bad.contains("bad.onnx"), bad)
        try run(["attention", CLITests.vit, image, "--threads", "0"] + out, expect: codes["bad usage"]!)
        try run(["attention", CLITests.vit, image, "--preprocess", "bogus"] + out, expect: codes["bad usage"]!)
        try run(["attention", CLITests.vit, image, "--out", dir + "/file/out", "--quiet"], expect: codes["output not writable"]!)
    }

    /// Grad-CAM on the ViT: by default on the last block's input norm (the last token grid before the last
    /// attention), 4×4 patches upsampled to the 32×32 input, not all zero.
    func testAttributeGradCAMOnAViT() throws {
        let dir = try temporaryDirectory()
        let (stdout, _) = try run(["attribute", CLITests.vit, CLITests.photos + "/chelsea.jpg", "--method", "gradcam", "--json", "--quiet",
                                   "--out", dir])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        XCTAssertEqual((report["settings"] as? [String: String])?["layer"], "encoder.layers.encoder_layer_1.ln_1")
        let map = try XCTUnwrap(((report["results"] as? [[String: Any]])?.first?["maps"] as? [[String: Any]])?.first)
        XCTAssertGreaterThan(try XCTUnwrap(map["max"] as? Double), 0)
        let npy = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + (map["map"] as! String)))
        XCTAssertEqual(npy.count, 128 + 32 * 32 * 4)
    }

    /// A ViT exported at batch 1 without a dynamic batch axis (its Reshapes hold the batch): attention and
    /// attribute run it one image per pass, say so, and give the bytes of an explicit --batch 1.
    func testFixedBatchExportRunsOneImagePerPass() throws {
        let dir = try temporaryDirectory()
        let model = CLITests.repo.appendingPathComponent("Tests/AtlasNetTests/Fixtures/transformers/vit_batch1.onnx").path
        for command in [["attention", "--rollout"], ["attribute", "--method", "gradcam"]] {
            let (stdout, stderr) = try run([command[0], model, CLITests.photos] + command.dropFirst() + ["--json", "--out", dir + "/\(command[0])"])
            XCTAssertTrue(stderr.contains("fixes the batch at 1"), stderr)
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
            XCTAssertEqual(report["images"] as? Int, 4, command[0])
            try run([command[0], model, CLITests.photos] + command.dropFirst() + ["--batch", "1", "--quiet", "--out", dir + "/\(command[0])1"])
            let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/\(command[0])").filter { $0.hasSuffix(".npy") }
            XCTAssertFalse(names.isEmpty)
            for name in names {
                XCTAssertEqual(FileManager.default.contents(atPath: dir + "/\(command[0])/" + name),
                               FileManager.default.contents(atPath: dir + "/\(command[0])1/" + name), name)
            }
        }
    }
}
