/// One preprocessing for every command: an RGB model without a sidecar gets ImageNet mean/std in `run`, `collect`,
/// `visualize`, `gallery` and `map` alike, and each records the same resolved map.
import AtlasImage
import AtlasMap
import AtlasOutput
import Foundation
import XCTest

extension CLITests {
    func testEveryCommandResolvesAutoPreprocessAlike() throws {
        let dir = try temporaryDirectory()
        // A 12×12 RGB net (conv, BN, residual, Gemm) in a folder of its own: no sidecar.
        let model = dir + "/net.onnx"
        try FileManager.default.copyItem(atPath: CLITests.repo.appendingPathComponent("Tests/AtlasNetTests/Fixtures/tiny/tiny_bn.onnx").path,
                                         toPath: model)
        let images = CLITests.assets + "/t10k-2000-images-idx3-ubyte.gz"
        let expected = "auto: imagenet (no sidecar) (\(Preprocess.imagenet))"
        func json(_ text: String) throws -> [String: Any] {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        func indexPreprocess(_ folder: String) throws -> String? {
            let index = try AtlasIndex.decode(Data(contentsOf: URL(fileURLWithPath: folder + "/atlas.json")))
            if case .string(let p)? = index.settings?["preprocess"] { return p }
            return nil
        }

        let ran = try json(run(["run", model, images, "--json"]).out)
        XCTAssertEqual(ran["preprocess"] as? String, expected)
        try run(["collect", model, "--images", images, "--layer", "bn2", "--limit", "40", "--out", dir + "/acts", "--quiet"])
        let manifest = try json(String(decoding: Data(contentsOf: URL(fileURLWithPath: dir + "/acts/collect.json")), as: UTF8.self))
        XCTAssertEqual((manifest["settings"] as? [String: Any])?["preprocess"] as? String, expected)
        let vis = try json(run(["visualize", model, "--layer", "bn2", "--channel", "1", "--size", "16", "--steps", "2",
                                "--out", dir + "/v.png", "--json"]).out)
        XCTAssertEqual(vis["preprocess"] as? String, expected)
        try run(["gallery", model, "--layer", "bn2", "--channels", "0..1", "--size", "16", "--steps", "2", "--format", "png",
                 "--out", dir + "/g", "--quiet"])
        XCTAssertEqual(try indexPreprocess(dir + "/g"), expected)
        try run(["map", model, "--activations", dir + "/acts", "--reduce", "pca", "--grid", "3", "--min-count", "2",
                 "--icon-size", "16", "--steps", "2", "--format", "png", "--out", dir + "/m", "--quiet"])
        XCTAssertEqual(try indexPreprocess(dir + "/m"), expected)
        // A word that cannot fit the model is a usage error in every command.
        try run(["run", model, images, "--preprocess", "mean:0.5/0.5,std:1/1"], expect: 64)
        try run(["visualize", model, "--layer", "bn2", "--channel", "0", "--preprocess", "mean:0.5/0.5,std:1/1",
                 "--out", dir + "/w.png"], expect: 64)
    }
}
