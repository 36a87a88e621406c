import AtlasImage
import Foundation
import XCTest

/// `--preprocess` words, sidecars and `auto`: one meaning in every command.
final class PreprocessTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fashionModel = repo.appendingPathComponent("Assets/fashion-mnist/fashion_cnn.onnx").path

    func parse(_ spec: String, model: String? = nil, channels: Int = 3) throws -> Preprocess {
        try Preprocess.parse(spec, modelPath: model, channels: channels).preprocess
    }

    func testWords() throws {
        XCTAssertEqual(try parse("unit"), .identity)
        XCTAssertEqual(try parse("none"), .range(0, 255))
        XCTAssertEqual(try parse("inception"), .range(-117, 138))
        XCTAssertEqual(try parse("imagenet"), .imagenet)
        XCTAssertEqual(try parse("range:-1:1"), .range(-1, 1))
        XCTAssertEqual(try parse("mean:0.485/0.456/0.406,std:0.229/0.224/0.225"), .imagenet)
        XCTAssertEqual(try parse("mean:0.5,std:0.25", channels: 1), Preprocess(scale: [4], shift: [-2]))
        for bad in ["mean:1", "mean:1,std:0", "range:2:1", "foo", "mean:a,std:1", "mean:0/0,std:1/1/1"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
        // Three channel values do not fit a gray model, whatever the word.
        XCTAssertThrowsError(try parse("imagenet", channels: 1))
    }

    func testAuto() throws {
        let fashion = try Preprocess.parse("auto", modelPath: PreprocessTests.fashionModel, channels: 1)
        XCTAssertEqual(fashion.preprocess, .meanStd([0.286], [0.353]))
        XCTAssertEqual(fashion.source, "auto: model.json")
        XCTAssertEqual(fashion.summary, "auto: model.json (\(Preprocess.meanStd([0.286], [0.353])))")
        // No sidecar: ImageNet statistics for RGB models, [0, 1] for gray ones.
        XCTAssertEqual(try parse("auto", model: "/nonexistent/dir/m.onnx", channels: 3), .imagenet)
        XCTAssertEqual(try parse("auto", model: "/nonexistent/dir/m.onnx", channels: 1), .identity)
        XCTAssertEqual(try parse("auto", model: nil, channels: 3), .imagenet)
    }

    func testSidecars() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atlas-preprocess-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"range": [-117, 138]}"#.utf8).write(to: dir.appendingPathComponent("net.json"))
        let net = dir.appendingPathComponent("net.onnx").path
        XCTAssertEqual(try Preprocess.sidecar(forModel: net)?.preprocess, .inceptionV1)
        XCTAssertEqual(try Preprocess.parse("auto", modelPath: net, channels: 3).source, "auto: net.json")
        try Data(#"{"preprocess": {"mean": [0.5]}}"#.utf8).write(to: dir.appendingPathComponent("model.json"))
        XCTAssertThrowsError(try Preprocess.sidecar(forModel: dir.appendingPathComponent("other.onnx").path)) { error in
            guard case .sidecar? = error as? PreprocessSpecError else { return XCTFail("\(error)") }
        }
        // A model's own sidecar wins over the folder's model.json.
        XCTAssertEqual(try Preprocess.sidecar(forModel: net)?.path, dir.appendingPathComponent("net.json").path)
    }

    func testCodableRoundTripAndValidation() throws {
        let data = try JSONEncoder().encode(Preprocess.imagenet)
        XCTAssertEqual(try JSONDecoder().decode(Preprocess.self, from: data), .imagenet)
        XCTAssertThrowsError(try JSONDecoder().decode(Preprocess.self, from: Data(#"{"scale": [1, 2], "shift": [0]}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(Preprocess.self, from: Data(#"{"scale": [0], "shift": [0]}"#.utf8)))
    }
}
