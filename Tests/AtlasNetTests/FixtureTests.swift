import AtlasCore
import AtlasNet
import Foundation
import XCTest

/// Real exporter output (torchvision, Lucent) and hand-built op nets, against onnxruntime outputs and PyTorch
/// input gradients (scripts/fixtures). Error bound: 1e-4 of each reference's largest magnitude.
final class FixtureTests: XCTestCase {
    static var fixtures: URL {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) { return url }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    struct Entry {
        let name: String
        let dir: URL
        let json: [String: Any]
        var file: [String: String] { json["files"] as? [String: String] ?? [:] }
        func path(_ key: String) -> String? { file[key].map { dir.appendingPathComponent($0).path } }
    }

    static func manifest(_ dir: URL) throws -> [Entry] {
        let data = try Data(contentsOf: dir.appendingPathComponent("manifest.json"))
        let root = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (root?["models"] as? [[String: Any]] ?? []).map { Entry(name: $0["name"] as? String ?? "?", dir: dir, json: $0) }
    }

    func testTinyNets() throws {
        for e in try FixtureTests.manifest(FixtureTests.fixtures.appendingPathComponent("tiny")) {
            try check(e)
            if e.name == "tiny_bn" { try check(e, foldBatchNorm: false) }
        }
    }

    func testTorchvisionAndLucentModels() throws {
        for e in try FixtureTests.manifest(FixtureTests.fixtures.appendingPathComponent("models")) {
            try check(e)
        }
    }

    func testBatchNormFoldingMatchesUnfolded() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(FixtureTests.fixtures.appendingPathComponent("models")).first { $0.name == "resnet18" })
        let folded = try Network(contentsOf: e.path("model")!)
        let unfolded = try Network(contentsOf: e.path("model")!, options: .init(foldBatchNorm: false))
        XCTAssertEqual(unfolded.graph.nodes.filter { $0.opType == "BatchNormalization" }.count, 20)
        XCTAssertEqual(folded.graph.nodes.filter { $0.opType == "BatchNormalization" }.count, 0)
        let input = try NPY.read(path: e.path("input")!)
        let a = try folded.forward(input)["output"]!, b = try unfolded.forward(input)["output"]!
        assertClose(a, b, "folded vs unfolded")
    }

    /// Under `Conv2D.withAccurateGradients` (what gradient-producing commands use) the input gradients of the models
    /// whose 3×3 layers take Winograd are within 1e-6 of float64 autograd (measured 2–3e-7; the F(4×4) path of
    /// feature visualization gives 1.4–2.4e-6 here, and at 224 px 5× PyTorch's own float32 error in L2:
    /// scripts/fixtures/gradient_accuracy.py).
    func testAccurateGradientsAgainstFloat64() throws {
        for e in try FixtureTests.manifest(FixtureTests.fixtures.appendingPathComponent("models"))
            where ["googlenet", "resnet18", "vgg11", "squeezenet1_1"].contains(e.name) {
            let net = try Network(contentsOf: e.path("model")!)
            let input = try NPY.read(path: e.path("input")!)
            let module = (e.json["activation"] as? [String: Any])?["module"] as? String ?? ""
            let channel = (e.json["gradient"] as? [String: Any])?["channel"] as? Int ?? 0
            let objective = try MeanObjective(parsing: "\(module):\(channel)", names: net.names)
            let grad = try Conv2D.withAccurateGradients { () throws -> Tensor in
                let v = try net.forward(input, capture: [objective.value], keepForBackward: true)
                return try net.backward(from: [objective.value: try objective.seed(like: v[objective.value]!)])
            }
            assertClose(grad, try NPY.read(path: e.path("grad")!), "\(e.name) accurate input gradient", tolerance: 1e-6)
        }
    }

    /// Same input, same bytes out (forward and input gradient) at 1 and 3 threads.
    func testDeterministicAcrossThreadCounts() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(FixtureTests.fixtures.appendingPathComponent("models")).first { $0.name == "googlenet" })
        let input = try NPY.read(path: e.path("input")!)
        func run(_ threads: Int) throws -> ([Float], [Float]) {
            try Parallel.withThreads(threads) {
                let net = try Network(contentsOf: e.path("model")!)
                let v = try net.forward(input, capture: ["output", "inception4a"], keepForBackward: true)
                let seed = try MeanObjective(parsing: "inception4a:3", names: net.names).seed(like: v["inception4a"]!)
                return (v["output"]!.toArray(), try net.backward(from: ["inception4a": seed]).toArray())
            }
        }
        let (y1, g1) = try run(1), (y3, g3) = try run(3)
        XCTAssertEqual(y1.map(\.bitPattern), y3.map(\.bitPattern))
        XCTAssertEqual(g1.map(\.bitPattern), g3.map(\.bitPattern))
    }

    /// The whole Lucent InceptionV1 at 224², generated on demand by scripts/fixtures (too large to commit).
    func testFullInceptionV1WhenGenerated() throws {
        let dir = URL(fileURLWithPath: "/tmp/atlas-fixtures")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("inceptionv1.onnx").path) else {
            print("FixtureTests: skipped, /tmp/atlas-fixtures/inceptionv1.onnx is absent (scripts/fixtures/make_model_fixtures.py)")
            throw XCTSkip("/tmp/atlas-fixtures/inceptionv1.onnx is absent")
        }
        let e = try XCTUnwrap(try FixtureTests.manifest(dir).first { $0.name == "inceptionv1" })
        try check(e, looseGradient: true)
        let net = try Network(contentsOf: e.path("model")!)
        for (alias, info) in e.json["layers"] as? [String: [String: Any]] ?? [:] {
            XCTAssertEqual(net.names.resolve(alias), info["onnx_value"] as? String, "alias \(alias)")
        }
    }
}

/// Comparisons against the fixtures' references, shared by the fixture-based test cases.
extension XCTestCase {
    /// max |a − b| ≤ 1e-4 · max |b|, same shapes.
    /// Max |a − b| ≤ tolerance × max |b|. Outputs and activations use the 1e-4 against onnxruntime; input
    /// gradients use 5e-4 against PyTorch's float64 autograd, since our float32 backward through a deep net (DenseNet's
    /// 121 layers) accumulates rounding that depends on the GEMM blocking (measured: 2.1e-4 of the scale there).
    func assertClose(_ a: Tensor, _ b: Tensor, _ what: String, tolerance: Float = 1e-4,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        var scale: Float = 0, err: Float = 0
        for i in 0..<b.count {
            scale = max(scale, abs(b.data[i]))
            let d = abs(a.data[i] - b.data[i])
            err = d.isNaN ? .infinity : max(err, d)
        }
        XCTAssertGreaterThan(scale, 0, "\(what): the reference is all zeros", file: file, line: line)
        XCTAssertLessThanOrEqual(err, tolerance * scale, "\(what): max error \(err), scale \(scale)", file: file, line: line)
    }

    /// Output, activation and gradient of one fixture. Tiny nets: gradient of mean(output[:, 0]);
    /// models: gradient of the mean of one activation channel.
    func check(_ e: FixtureTests.Entry, foldBatchNorm: Bool = true, passes: PassSelection = .environment,
               looseGradient: Bool = false) throws {
        let net = try Network(contentsOf: e.path("model")!, options: .init(foldBatchNorm: foldBatchNorm, passes: passes))
        let input = try NPY.read(path: e.path("input")!)
        let outputName = e.json["output_name"] as? String ?? "output"
        let activation = e.json["activation"] as? [String: Any]
        let actValue = activation?["onnx_value"] as? String
        var capture: Set<String> = [outputName]
        if let actValue { capture.insert(actValue) }
        let values = try net.forward(input, capture: capture, keepForBackward: true)
        assertClose(values[outputName]!, try NPY.read(path: e.path("output")!), "\(e.name) output")
        let objective: MeanObjective
        if let actValue, let module = activation?["module"] as? String {
            assertClose(values[actValue]!, try NPY.read(path: e.path("act")!), "\(e.name) activation")
            XCTAssertEqual(net.names.resolve(module), actValue, "\(e.name): alias of module \(module)")
            let channel = (e.json["gradient"] as? [String: Any])?["channel"] as? Int ?? 0
            objective = try MeanObjective(parsing: "\(module):\(channel)", names: net.names)
        } else {
            objective = try MeanObjective(parsing: "\(outputName):0", names: net.names)
        }
        let seed = try objective.seed(like: values[actValue ?? outputName]!)
        let grad = try net.backward(from: [actValue ?? outputName: seed])
        if looseGradient {
            assertMostlyClose(grad, try NPY.read(path: e.path("grad")!), "\(e.name) input gradient")
        } else {
            assertClose(grad, try NPY.read(path: e.path("grad")!), "\(e.name) input gradient", tolerance: 5e-4)
        }
    }

    /// For deep networks at full size: relative L2 error ≤ 5e-3 and 99 % of entries within 1e-4 of the scale.
    /// A max-pool window whose two largest inputs differ by less than float32 rounding can pick a different
    /// winner than the reference and move one unit's gradient to a neighbouring pixel, so an elementwise bound
    /// over all entries is not meaningful. Seen in the full InceptionV1: maxpool1 window (0, 3) of channel 165
    /// of image 1 has a relative gap of 1.6e-7 between its two largest inputs (onnxruntime values); all of
    /// the gradient error (0.3 % of the entries, relative L2 1.4e-3) lies in that window's 13×23-pixel field.
    func assertMostlyClose(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        var scale: Float = 0, diff2 = 0.0, ref2 = 0.0
        for i in 0..<b.count {
            scale = max(scale, abs(b.data[i]))
            diff2 += Double(a.data[i] - b.data[i]) * Double(a.data[i] - b.data[i])
            ref2 += Double(b.data[i]) * Double(b.data[i])
        }
        var outside = 0
        for i in 0..<b.count where !(abs(a.data[i] - b.data[i]) <= 1e-4 * scale) { outside += 1 }
        XCTAssertLessThanOrEqual((diff2 / max(ref2, 1e-30)).squareRoot(), 5e-3, "\(what): relative L2 error", file: file, line: line)
        XCTAssertLessThanOrEqual(Double(outside), 1e-2 * Double(b.count), "\(what): \(outside) entries off", file: file, line: line)
    }
}
