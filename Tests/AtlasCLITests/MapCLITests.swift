/// `atlas collect` and `atlas map` as a user runs them: a collection, an atlas from it (PCA, tiny icons) with a JSON
/// summary, a rerun that renders nothing, the cells' sample crops, and the usage errors.
import AtlasImage
import AtlasMap
import AtlasNet
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
        // Every listed sample links its crop: the receptive field of its position, cut from the image the network saw.
        let network = try Network(contentsOf: model)
        let field = try UnitsRecipe.layerShape(network: network, value: try network.resolve("features.conv4.0"), input: [1, 28, 28]).field
        let stack = try IDX.images(images, limit: 120)
        var checked = 0
        for sample in index.grids.flatMap({ $0.cells.flatMap { $0.samples ?? [] } }) {
            let item = try XCTUnwrap(Int(try XCTUnwrap(sample.path.split(separator: "#").last)))
            let (x, y) = (try XCTUnwrap(sample.x), try XCTUnwrap(sample.y))
            XCTAssertEqual(sample.thumb, "samples/\(item)-\(x)-\(y).jpg")
            let crop = try ImageCodec.decode(file: dir + "/atlas/" + (sample.thumb ?? "?"))
            let b = field.box(x: x, y: y, width: 28, height: 28)
            XCTAssertEqual([crop.width, crop.height], [b[2] - b[0] + 1, b[3] - b[1] + 1])
            var diff: Float = 0
            for r in 0..<crop.height { for c in 0..<crop.width { diff += abs(crop.pixels[r * crop.width + c] - stack[item].pixels[(b[1] + r) * 28 + b[0] + c]) } }
            XCTAssertLessThan(diff / Float(crop.width * crop.height), 0.03, "crop of \(sample.path) at \(x),\(y)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 8)
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
