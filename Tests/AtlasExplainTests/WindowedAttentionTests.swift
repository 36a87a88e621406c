import AtlasCore
import AtlasExplain
import AtlasNet
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
            XCTAssertTrue(reason.contains("no data movement between a token grid"), reason)
        }
    }
}
extension WindowedAttentionTests {
    /// MaxViT (the small torchvision fixture, batch 2): block attention partitions the [batch, C, H, W] grid into
    /// 2×2 windows, which are placed (found through the LayerNormalization it applies after partitioning); grid
    /// attention reads the block attention's partitioned output, which the graph never puts back on a grid before
    /// repartitioning, so it is left out with that reason.
    func testMaxViTBlockAttentionIsPlacedGridAttentionLeftOut() throws {
        let net = try Network(contentsOf: WindowedAttentionTests.dir.appendingPathComponent("maxvit.onnx").path)
        let mapper = try AttentionMapper(network: net, inputShape: [2, 3, 32, 32], query: nil)
        XCTAssertEqual(mapper.layers.map(\.index), [0, 2])
        for (l, side) in zip(mapper.layers, [8, 4]) {
            XCTAssertTrue(l.site.softmaxNode.contains("/window_attention/"), l.site.softmaxNode)
            let w = try XCTUnwrap(l.windows)
            XCTAssertEqual([w.gridHeight, w.gridWidth, w.windows, w.tokens], [side, side, side * side / 4, 4])
            let across = side / 2
            XCTAssertEqual(w.position, (0..<(side * side)).map { slot in
                let (window, token) = (slot / 4, slot % 4)
                return (window / across * 2 + token / 2) * side + window % across * 2 + token % 2
            })
        }
        XCTAssertEqual(mapper.unmapped.map(\.site.softmaxNode), (0..<2).map { "/blocks.\($0)/layers.0/layers/grid_attention/attn_layer/attn_layer.1/Softmax" })
        for u in mapper.unmapped { XCTAssertTrue(u.reason.contains("the tokens of another partition"), u.reason) }
    }
}
