import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// `NAME::cls` (`TokenLayout`): the class token of a token layer as a [B, C, 1, 1] activation, on the hand-built
/// `TinyViT` and the small torchvision ViT fixture; refused, with `ModelError.noClassToken`, where there is none.
final class ClassTokenViewTests: XCTestCase {
    /// The view's values are token 0 of the raw [B, T, C] value, channel for channel, by alias and by value name.
    func testClassTokenViewIsTokenZero() throws {
        let tiny = try TinyViT.network()
        let fixture = try Network(contentsOf: TransformerExplainTests.vitDir.appendingPathComponent("vit.onnx").path)
        let fixtureInput = try NPY.read(path: TransformerExplainTests.vitDir.appendingPathComponent("vit.input.npy").path)
        for (net, layer, x) in [(tiny, "block1", TinyViT.images(brightPatches: [5, 3])),
                                (fixture, "encoder.layers.encoder_layer_1", fixtureInput)] {
            let grid = try XCTUnwrap(net.names.resolve(layer))
            let raw = try XCTUnwrap(net.graph.nodes.first { $0.outputs.first == grid }?.input(0))
            XCTAssertEqual(net.names.resolve(layer + "::cls"), TokenLayout.className(raw))
            XCTAssertEqual(net.names.resolve(raw + "::cls"), TokenLayout.className(raw), "the value name takes the suffix too")
            let v = try net.forward(x, capture: [layer + "::cls", raw])
            let cls = try XCTUnwrap(v[layer + "::cls"]), r = try XCTUnwrap(v[raw])
            let (n, t, c) = (r.shape[0], r.shape[1], r.shape[2])
            XCTAssertEqual(cls.shape, [n, c, 1, 1], layer)
            for b in 0..<n { for ch in 0..<c {
                XCTAssertEqual(cls.data[b * c + ch], r.data[b * t * c + ch], "\(layer) image \(b) channel \(ch)")
            } }
            // Token 0 differs from the patch tokens, so a view of another token would not pass.
            XCTAssertNotEqual(Array(UnsafeBufferPointer(start: r.data, count: c)), Array(UnsafeBufferPointer(start: r.data + c, count: c)))
            let row = try XCTUnwrap(try net.plan(for: x.shape).layers(names: net.names).first { $0.value == TokenLayout.className(raw) })
            XCTAssertEqual(row.alias, layer + "::cls")
            XCTAssertEqual(row.shape, [n, c, 1, 1])
        }
    }

    /// The input gradient of a channel objective on the class token matches central finite differences, and equals
    /// the gradient seeded at token 0 of the raw value.
    func testClassTokenGradientMatchesFiniteDifferences() throws {
        let net = try TinyViT.network()
        let x = TinyViT.images(brightPatches: [5])
        let name = "block1::cls", channel = 0
        let objective = try MeanObjective(parsing: "\(name):\(channel)", names: net.names)
        XCTAssertEqual(objective.value, name)
        XCTAssertEqual(objective.channel, channel)
        func value(_ input: Tensor) throws -> Double { Double(try net.forward(input, capture: [name])[name]!.toArray()[channel]) }
        let cls = try XCTUnwrap(try net.forward(x, capture: [name], keepForBackward: true)[name])
        let g = try net.backward(from: [name: try objective.seed(like: cls)])
        XCTAssertEqual(g.shape, x.shape)
        let eps: Float = 0.05
        var worst = 0.0, largest = 0.0
        for i in stride(from: 3, to: x.count, by: 7) {
            let plus = x.copy(), minus = x.copy()
            plus.data[i] += eps
            minus.data[i] -= eps
            let fd = (try value(plus) - value(minus)) / Double(2 * eps)
            worst = max(worst, abs(fd - Double(g.data[i])))
            largest = max(largest, abs(fd))
        }
        XCTAssertGreaterThan(largest, 1e-3, "the class token reads the input")
        XCTAssertLessThanOrEqual(worst, 1e-3 * largest)

        let raw = "/block1/Add_output_0"
        let r = try XCTUnwrap(try net.forward(x, capture: [raw], keepForBackward: true)[raw])
        let seed = Tensor(zeros: r.shape)
        seed.data[channel] = 1
        XCTAssertEqual(try net.backward(from: [raw: seed]).toArray(), g.toArray(), "the view only moves entries")
    }

    /// A CNN layer and a Swin stage have no class token: `::cls` is refused with the layer named, and listings leave
    /// the view out.
    func testNoClassTokenIsRefused() throws {
        let swin = try Network(contentsOf: TransformerExplainTests.vitDir.appendingPathComponent("swin.onnx").path)
        let x = try NPY.read(path: TransformerExplainTests.vitDir.appendingPathComponent("swin.input.npy").path)
        XCTAssertThrowsError(try swin.forward(x, capture: ["features.3::cls"])) { error in
            guard case let .noClassToken(layer, reason)? = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(layer, "features.3::cls")
            XCTAssertTrue(reason.contains("[batch, H, W, channels]"), reason)
        }
        XCTAssertFalse(try swin.plan(for: x.shape).layers(names: swin.names).contains { $0.op == TokenLayout.classOp })
        let cnn = try TinyNets.squareDetector()
        let layer = "r"   // its Relu, [N, 2, 16, 16]
        XCTAssertThrowsError(try cnn.resolve(layer + "::cls")) { error in
            guard case .noClassToken? = error as? ModelError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try MeanObjective(parsing: layer + "::cls:0", names: cnn.names)) { error in
            guard case .noClassToken? = error as? ModelError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try cnn.resolve("no.such.layer::cls")) { error in
            XCTAssertEqual(error as? ModelError, .unknownLayer("no.such.layer::cls"))
        }
    }
}
