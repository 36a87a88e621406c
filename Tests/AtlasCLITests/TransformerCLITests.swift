/// Vision transformers through the command line (the small ViT of Tests/AtlasNetTests/Fixtures/transformers):
/// `inspect` shows token layouts, channel objectives and `collect` work on a block's patch grid and on its class token
/// (`NAME::cls`), and an input of the wrong size is bad input data (65) naming the node.
import AtlasNet
import Foundation
import XCTest

extension CLITests {
    static var vit: String { repo.appendingPathComponent("Tests/AtlasNetTests/Fixtures/transformers/vit.onnx").path }

    func testTransformerInspectVisualizeAndWrongSize() throws {
        let dir = try temporaryDirectory()
        let (listing, _) = try run(["inspect", CLITests.vit])
        XCTAssertTrue(listing.contains("1×17×32 [batch, tokens, channels]"), listing)
        XCTAssertTrue(listing.contains("encoder.layers.encoder_layer_1 "), listing)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try run(["inspect", CLITests.vit, "--json"]).out.utf8)) as? [String: Any])
        let rows = json["layers"] as? [[String: Any]] ?? []
        let block = try XCTUnwrap(rows.first { $0["alias"] as? String == "encoder.layers.encoder_layer_1" })
        XCTAssertEqual(block["shape"] as? [Int], [1, 32, 4, 4], "the alias names the patch grid")
        try run(["visualize", CLITests.vit, "--layer", "encoder.layers.encoder_layer_1", "--channel", "3", "--size", "32",
                 "--steps", "4", "--upsample", "32", "--out", dir + "/v.png", "--quiet"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/v.png"))
        let (_, err) = try run(["visualize", CLITests.vit, "--layer", "encoder.layers.encoder_layer_1", "--channel", "3",
                                "--size", "48", "--steps", "1", "--transforms", "none", "--out", dir + "/w.png", "--quiet"], expect: 65)
        XCTAssertTrue(err.contains("node '/encoder/Add'"), err)
    }

    /// `NAME::cls`: inspect lists it (text and JSON) for the ViT's blocks and not for Swin's stages; visualize, gallery,
    /// collect and map read the class token as one position of the block's channels; Swin's stage is refused (64).
    func testClassTokenViewThroughTheCommands() throws {
        let dir = try temporaryDirectory()
        let cls = "encoder.layers.encoder_layer_1::cls"
        XCTAssertTrue(try run(["inspect", CLITests.vit]).out.contains(cls + " "))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try run(["inspect", CLITests.vit, "--json"]).out.utf8)) as? [String: Any])
        let row = try XCTUnwrap((json["layers"] as? [[String: Any]])?.first { $0["alias"] as? String == cls })
        XCTAssertEqual(row["shape"] as? [Int], [1, 32, 1, 1])
        XCTAssertEqual(row["channels"] as? Int, 32)
        try run(["visualize", CLITests.vit, "--layer", cls, "--channel", "3", "--size", "32", "--steps", "4", "--upsample", "32",
                 "--out", dir + "/v.png", "--quiet"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/v.png"))
        let (out, _) = try run(["collect", CLITests.vit, "--images", CLITests.photos, "--layer", cls, "--out", dir + "/acts", "--json", "--quiet"])
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(summary["rows"] as? Int, 4, "one position per image: the class token")
        let part = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir + "/acts").first { $0.hasSuffix(".npy") })
        let collected = try NPY.read(path: dir + "/acts/" + part)
        XCTAssertEqual(collected.shape, [4, 32])
        XCTAssertTrue(collected.toArray().contains { $0 != 0 })
        try run(["gallery", CLITests.vit, "--layer", cls, "--channels", "0,1", "--size", "32", "--steps", "2", "--upsample", "32", "--out", dir + "/g", "--quiet"])
        try run(["map", CLITests.vit, "--activations", dir + "/acts", "--reduce", "pca", "--grid", "2", "--min-count", "1",
                 "--icon-size", "20", "--steps", "1", "--format", "png", "--out", dir + "/atlas", "--quiet"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/atlas/atlas.json"))

        let swin = CLITests.repo.appendingPathComponent("Tests/AtlasNetTests/Fixtures/transformers/swin.onnx").path
        XCTAssertFalse(try run(["inspect", swin]).out.contains("::cls"), "no class token, no view listed")
        // The fixture is exported at batch 2: its own input tensor.
        let (_, err) = try run(["run", swin, "--input-npy", String(swin.dropLast(5)) + ".input.npy", "--layer", "features.3::cls",
                                "--activations-npy", dir + "/s.npy"], expect: 64)
        XCTAssertTrue(err.contains("'features.3::cls' has no class token"), err)
    }
}
