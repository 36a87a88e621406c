import AtlasCore
import AtlasExplain
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// Windowed attention (`AttentionWindows`) on the small torchvision Swin exported at batch 1 (`swin_batch1.onnx`,
/// `scripts/fixtures/make_attention_fixtures.py`): the windows found from the graph are torchvision's own rule (roll
/// by −shift, 4×4 windows row-major), and the maps placed by them equal the fixture script's, made from onnxruntime's
/// probabilities by that rule.
final class WindowedAttentionTests: XCTestCase {
    static let dir = TransformerExplainTests.vitDir

    func testWindowsAreTorchvisionsPartitionAndShift() throws {
        let net = try Network(contentsOf: WindowedAttentionTests.dir.appendingPathComponent("swin_batch1.onnx").path)
        let mapper = try AttentionMapper(network: net, inputShape: [1, 3, 32, 32], query: .patch(63))
        let windowed = mapper.layers.filter { $0.windows != nil }
        XCTAssertEqual(windowed.map(\.index), [0, 1])
        XCTAssertEqual(windowed.map(\.site.softmaxNode), (0..<2).map { "/features/features.1/features.1.\($0)/attn/Softmax" })
        for (l, shift) in zip(windowed, [0, 2]) {
            let w = try XCTUnwrap(l.windows)
            XCTAssertEqual([w.gridHeight, w.gridWidth, w.windows, w.tokens], [8, 8, 4, 16])
            let want = (0..<64).map { slot -> Int in
                let (window, token) = (slot / 16, slot % 16)
                let (r, c) = (window / 2 * 4 + token / 4, window % 2 * 4 + token % 4)
                return (r + shift) % 8 * 8 + (c + shift) % 8
            }
            XCTAssertEqual(w.position, want, "block with shift \(shift)")
            XCTAssertEqual(w.summary, "4 windows of 4×4 on the 8×8 token grid")
        }
        XCTAssertEqual(mapper.layers.filter { $0.windows == nil }.map { [$0.gridHeight, $0.gridWidth] }, [[4, 4], [4, 4]])
    }

    func testWindowedMapsMatchTheReference() throws {
        let dir = WindowedAttentionTests.dir
        let net = try Network(contentsOf: dir.appendingPathComponent("swin_batch1.onnx").path)
        let x = try NPY.read(path: dir.appendingPathComponent("swin_batch1.input.npy").path)
        let ref = try NPY.read(path: dir.appendingPathComponent("swin_batch1.windows.npy").path)   // [block, query, head, 8, 8]
        XCTAssertEqual(ref.shape, [2, 3, 2, 8, 8])
        for (k, query) in [AttentionQuery.patch(63), .patch(18), .mean].enumerated() {
            let mapper = try AttentionMapper(network: net, inputShape: x.shape, query: query)
            let r = try mapper.maps(x, layers: [0, 1], rollout: false)
            for block in 0..<2 {
                let got = try XCTUnwrap(r.maps[block])
                XCTAssertEqual(got.shape, [1, 2, 8, 8])
                let want = (0..<128).map { ref.data[((block * 3 + k) * 2) * 64 + $0] }
                XCTAssertGreaterThan(want.max()!, 0)
                XCTAssertLessThanOrEqual(zip(got.toArray(), want).map { abs($0 - $1) }.max()!, 1e-5, "block \(block) \(query)")
            }
        }
        // A patch query shows its window (16 cells, the rest zero); in the shifted block the corner's window wraps
        // around, and its mask keeps the corner patch within the 2×2 cells that are its neighbours in the image.
        let one = try AttentionMapper(network: net, inputShape: x.shape, query: .patch(63)).maps(x, layers: [0, 1], rollout: false)
        XCTAssertEqual(Array(one.maps[0]!.toArray()[0..<64]).filter { $0 != 0 }.count, 16)
        let shifted = Array(one.maps[1]!.toArray()[0..<64])
        XCTAssertEqual(shifted.indices.filter { shifted[$0] > 1e-6 }, [54, 55, 62, 63])
    }

    /// Attention whose tokens are not moved from a [batch, H, W, channels] grid is not placed, and says why.
    func testGlobalAttentionIsNotAWindowGrid() throws {
        let net = try TinyViT.network()
        let plan = try net.plan(for: [1, 1, 16, 16])
        let site = try XCTUnwrap(Attention.sites(net.graph).first)
        XCTAssertThrowsError(try AttentionWindows.find(site, plan: plan, batch: 1)) { error in
            let reason = (error as? AttentionWindows.Unplaced)?.reason ?? "\(error)"
            XCTAssertTrue(reason.contains("not moved from one [batch, H, W, channels] or [batch, channels, H, W] grid"), reason)
        }
    }
}
extension WindowedAttentionTests {
    /// MaxViT (the small torchvision fixture, batch 2): block attention partitions the [batch, C, H, W] grid into
    /// 2×2 windows (found through the LayerNormalization it applies after partitioning); grid attention reads the block
    /// attention's output still in windows (found through its residual sums) and regroups it into windows of cells
    /// H/2 apart: torchvision's window and grid partitions, in closed form.
    func testMaxViTBlockAndGridAttentionArePlaced() throws {
        let net = try Network(contentsOf: WindowedAttentionTests.dir.appendingPathComponent("maxvit.onnx").path)
        let mapper = try AttentionMapper(network: net, inputShape: [2, 3, 32, 32], query: nil)
        XCTAssertTrue(mapper.unmapped.isEmpty, "\(mapper.unmapped.map(\.reason))")
        XCTAssertEqual(mapper.layers.map(\.index), [0, 1, 2, 3])
        for (l, side) in zip(mapper.layers, [8, 8, 4, 4]) {
            let grid = l.site.softmaxNode.contains("/grid_attention/"), q = side / 2
            XCTAssertTrue(grid || l.site.softmaxNode.contains("/window_attention/"), l.site.softmaxNode)
            let w = try XCTUnwrap(l.windows)
            XCTAssertEqual([w.gridHeight, w.gridWidth, w.windows, w.tokens], [side, side, q * q, 4])
            XCTAssertEqual(w.position, (0..<(side * side)).map { slot in
                let (window, token) = (slot / 4, slot % 4)
                return grid ? (token / 2 * q + window / q) * side + token % 2 * q + window % q        // cells q apart
                            : (window / q * 2 + token / 2) * side + window % q * 2 + token % 2     // 2×2 blocks
            }, l.site.softmaxNode)
        }
        let r = try mapper.maps(try NPY.read(path: WindowedAttentionTests.dir.appendingPathComponent("maxvit.input.npy").path),
                                layers: [0, 1, 2, 3], rollout: false)
        for l in mapper.layers {
            let m = try XCTUnwrap(r.maps[l.index]), cells = l.gridHeight * l.gridWidth
            for plane in 0..<(2 * l.heads) {
                XCTAssertEqual((0..<cells).reduce(0.0) { $0 + Double(m.data[plane * cells + $1]) }, 1, accuracy: 1e-5, "mean query sums to 1")
            }
        }
    }
}

extension WindowedAttentionTests {
    /// A hand-built net whose only attention is windowed (2 windows of 8 tokens) with keys projected from another value
    /// than the queries (a Relu of the tokens): its windows cannot be placed, so the mapper refuses, naming the Softmax
    /// node and why.
    func testUnplaceableWindowsAreRefusedWithTheReason() throws {
        func f(_ shape: [Int], seed: UInt64) -> Constant { Constant(TestData.uniform(shape, in: -0.5...0.5, seed: seed)) }
        var nodes: [Node] = []
        func node(_ op: String, _ inputs: [String], _ y: String, _ attributes: [String: Attribute] = [:]) {
            nodes.append(TinyNets.node(op, inputs, y, attributes))
        }
        node("Conv", ["x", "patch_w", "patch_b"], "/patch/Conv_output_0", ["strides": .ints([4, 4]), "kernel_shape": .ints([4, 4])])
        node("Reshape", ["/patch/Conv_output_0", "grid_shape"], "/patch/Reshape_output_0")
        node("Transpose", ["/patch/Reshape_output_0"], "/patch/Transpose_output_0", ["perm": .ints([0, 2, 1])])
        node("Reshape", ["/patch/Transpose_output_0", "window_shape"], "/win/Reshape_output_0")          // [2N, 8, 4]
        node("Relu", ["/win/Reshape_output_0"], "/win/Relu_output_0")
        node("MatMul", ["/win/Reshape_output_0", "wq"], "/win/q/MatMul_output_0")
        node("MatMul", ["/win/Relu_output_0", "wk"], "/win/k/MatMul_output_0")
        node("Transpose", ["/win/k/MatMul_output_0"], "/win/Transpose_output_0", ["perm": .ints([0, 2, 1])])
        node("MatMul", ["/win/q/MatMul_output_0", "/win/Transpose_output_0"], "/win/MatMul_output_0")
        node("Reshape", ["/win/MatMul_output_0", "heads_shape"], "/win/Reshape_1_output_0")            // [2N, 1, 8, 8]
        node("Softmax", ["/win/Reshape_1_output_0"], "/win/Softmax_output_0", ["axis": .int(-1)])
        node("Reshape", ["/win/Reshape_output_0", "values_shape"], "/win/Reshape_2_output_0")          // [2N, 1, 8, 4]
        node("MatMul", ["/win/Softmax_output_0", "/win/Reshape_2_output_0"], "/win/MatMul_1_output_0")
        node("Reshape", ["/win/MatMul_1_output_0", "flat_shape"], "/head/Reshape_output_0")
        node("Gemm", ["/head/Reshape_output_0", "head_w", "head_b"], "logits", ["transB": .int(1)])
        let constants: [String: Constant] = [
            "patch_w": f([4, 1, 4, 4], seed: 1), "patch_b": f([4], seed: 2), "wq": f([4, 4], seed: 3), "wk": f([4, 4], seed: 4),
            "head_w": f([2, 64], seed: 5), "head_b": f([2], seed: 6),
            "grid_shape": Constant(ints: [0, 4, 16]), "window_shape": Constant(ints: [-1, 8, 4]), "heads_shape": Constant(ints: [-1, 1, 8, 8]),
            "values_shape": Constant(ints: [-1, 1, 8, 4]), "flat_shape": Constant(ints: [-1, 64]),
        ]
        let g = Graph(nodes: nodes, inputs: [TinyNets.input(1, 16, 16)], outputs: [ValueInfo(name: "logits")], constants: constants)
        let net = try Network(model: Model(graph: g))
        XCTAssertThrowsError(try AttentionMapper(network: net, inputShape: [1, 1, 16, 16], query: nil)) { error in
            guard case let .invalidOption(message)? = error as? AttributionError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("softmax_/win/Softmax_output_0 [2, 1, 8, 8] (windowed, 2 windows of 8 tokens: queries and keys are projected "
                                           + "from 2 different values)"), message)
        }
    }
}
