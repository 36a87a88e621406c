/// Vision transformers through the command line (the small ViT of Tests/AtlasNetTests/Fixtures/transformers):
/// `inspect` shows token layouts, channel objectives and `collect` work on a block's patch grid, and an input of the
/// wrong size is bad input data (65) naming the node.
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
}
