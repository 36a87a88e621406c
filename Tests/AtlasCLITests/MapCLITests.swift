/// `atlas collect` and `atlas map` as a user runs them: a collection, an atlas from it (PCA, tiny icons) with a JSON
/// summary, a rerun that renders nothing, and the usage errors.
import AtlasMap
import AtlasOutput
import Foundation
import XCTest

extension CLITests {
    func testCollectThenMapFromActivationsAndRerun() throws {
        let cli = self
        let dir = try temporaryDirectory()
        let model = CLITests.assets + "/fashion_cnn.onnx", images = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"
        let (out, _) = try cli.run(["collect", model, "--images", images, "--layer", "features.conv4.0", "--limit", "120",
                                    "--attribution", "logit", "--part-images", "50", "--out", dir + "/acts", "--json"])
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(summary["rows"] as? Int, 120)
        XCTAssertEqual(summary["parts"] as? Int, 3)
        let args = ["map", model, "--activations", dir + "/acts", "--reduce", "pca", "--grid", "3,5", "--min-count", "2",
                    "--icon-size", "20", "--steps", "2", "--format", "png", "--out", dir + "/atlas", "--json"]
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try cli.run(args).out.utf8)) as? [String: Any])
        XCTAssertGreaterThan(first["icons_rendered"] as? Int ?? 0, 0)
        let index = try AtlasIndex.decode(try Data(contentsOf: URL(fileURLWithPath: dir + "/atlas/atlas.json")))
        XCTAssertEqual(index.grids.map(\.id), ["g3", "g5"])
        XCTAssertEqual(index.layer, "features.conv4.0")
        XCTAssertNotNil(index.grids[0].cells.first?.top)   // logits of the samples, aggregated
        // The quality measure: every kept icon's score, and their median.
        let scores = index.grids.flatMap { $0.cells.compactMap(\.value) }
        XCTAssertEqual(scores.count, index.grids.reduce(0) { $0 + $1.cells.count })
        guard case .double(let median)? = index.settings?["objective_median"] else { return XCTFail("no objective_median") }
        XCTAssertEqual(median, try XCTUnwrap(Gallery.median(scores)), accuracy: 1e-9)
        let second = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try cli.run(args).out.utf8)) as? [String: Any])
        XCTAssertEqual(second["icons_rendered"] as? Int, 0)
        XCTAssertEqual(second["layout_reused"] as? Bool, true)

        try cli.run(["collect", model, "--images", images, "--layer", "features.conv4.0", "--attribution", "nope", "--out", dir + "/x"], expect: 64)
        try cli.run(["map", model, "--activations", dir + "/acts", "--grid", "0", "--out", dir + "/y"], expect: 64)
        try cli.run(["map", model, "--activations", dir + "/missing", "--out", dir + "/y"], expect: 66)   // an input missing
        // The same folder with other settings is refused, not overwritten.
        try cli.run(["collect", model, "--images", images, "--layer", "features.conv4.0", "--limit", "120",
                     "--out", dir + "/acts"], expect: 65)
    }
}
