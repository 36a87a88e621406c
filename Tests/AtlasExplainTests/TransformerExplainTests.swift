import AtlasCore
import AtlasExplain
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// Attention maps and attribution on transformers: the hand-built `TinyViT` (attention known in closed form, the
/// class logit reads patch 5) and the small torchvision ViT fixture against onnxruntime's attention probabilities
/// (`scripts/fixtures/make_attention_fixtures.py`).
final class TransformerExplainTests: XCTestCase {
    static let vitDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("AtlasNetTests/Fixtures/transformers")

    func testTinyViTAttentionIsTheClosedForm() throws {
        let net = try TinyViT.network()
        let x = TinyViT.images(brightPatches: [5, 10])
        let mapper = try AttentionMapper(network: net, inputShape: [1, 1, 16, 16], query: nil)
        XCTAssertEqual(mapper.layers.map(\.site.softmaxNode), ["/block0/Softmax", "/block1/Softmax"])
        XCTAssertEqual(mapper.layers.map(\.site.valueProduct), ["/block0/MatMul_1", "/block1/MatMul_1"])
        XCTAssertEqual([mapper.tokens, mapper.classTokens, mapper.gridHeight, mapper.gridWidth], [17, 1, 4, 4])
        XCTAssertEqual(mapper.query, .classToken, "a class token is the default query")
        let closed = [TinyViT.attention(0), TinyViT.attention(1)]
        XCTAssertEqual(closed[0][0][TinyViT.strongPatch + 1], Foundation.exp(8) / (Foundation.exp(8) + 16), accuracy: 1e-9)
        for query in [AttentionQuery.classToken, .patch(9), .mean] {
            let m = try AttentionMapper(network: net, inputShape: [1, 1, 16, 16], query: query)
            let r = try m.maps(x, layers: [0, 1], rollout: true)
            let rows: [Int]
            switch query { case .classToken: rows = [0]; case let .patch(p): rows = [p + 1]; case .mean: rows = Array(1..<17) }
            func want(_ a: [[Double]], _ j: Int) -> Double { rows.map { a[$0][j + 1] }.reduce(0, +) / Double(rows.count) }
            // Rollout directly: Â = ½A + ½I (rows of A sum to 1, so Â's do too), R = Â₁·Â₀.
            let hat = closed.map { a in (0..<17).map { i in (0..<17).map { j in 0.5 * a[i][j] + (i == j ? 0.5 : 0) } } }
            let rolled = (0..<17).map { i in (0..<17).map { j in (0..<17).reduce(0.0) { $0 + hat[1][i][$1] * hat[0][$1][j] } } }
            for n in 0..<2 {
                for l in 0..<2 {
                    let maps = try XCTUnwrap(r.maps[l])
                    XCTAssertEqual(maps.shape, [2, 1, 4, 4])
                    for j in 0..<16 { XCTAssertEqual(Double(maps.data[n * 16 + j]), want(closed[l], j), accuracy: 1e-6, "\(query) L\(l) p\(j)") }
                }
                let roll = try XCTUnwrap(r.rollout)
                for j in 0..<16 { XCTAssertEqual(Double(roll.data[n * 16 + j]), want(rolled, j), accuracy: 1e-6, "\(query) rollout p\(j)") }
            }
            XCTAssertEqual(r.scores.shape, [2, 2])
        }
        let classMap = try mapper.maps(x, layers: [0], rollout: false).maps[0]!
        let peak = (0..<16).max { classMap.data[$0] < classMap.data[$1] }
        XCTAssertEqual(peak, TinyViT.strongPatch)
        XCTAssertThrowsError(try AttentionMapper(network: net, inputShape: [1, 1, 16, 16], query: .patch(16))) { error in
            XCTAssertEqual(error as? AttributionError, .invalidOption("--query 16 is out of range: the patch grid is 4×4 (0…15)"))
        }
        XCTAssertThrowsError(try AttentionMapper(network: try TinyNets.squareDetector(), inputShape: [1, 1, 16, 16], query: nil)) { error in
            guard case .model? = error as? AttributionError else { return XCTFail("\(error)") }
        }
    }

    /// The small torchvision ViT: every head's class-token, patch and mean maps and the rollout against
    /// onnxruntime's probabilities and a float64 numpy rollout of them.
    func testViTAttentionMatchesOnnxruntime() throws {
        let net = try Network(contentsOf: TransformerExplainTests.vitDir.appendingPathComponent("vit.onnx").path)
        let x = try NPY.read(path: TransformerExplainTests.vitDir.appendingPathComponent("vit.input.npy").path)
        let probs = try NPY.read(path: TransformerExplainTests.vitDir.appendingPathComponent("vit.attention.npy").path)
        let rollout = try NPY.read(path: TransformerExplainTests.vitDir.appendingPathComponent("vit.rollout.npy").path)
        XCTAssertEqual(probs.shape, [2, 2, 2, 17, 17])
        for (query, rows) in [(AttentionQuery.classToken, [0]), (.patch(6), [7]), (.mean, Array(1..<17))] {
            let mapper = try AttentionMapper(network: net, inputShape: [1, 3, 32, 32], query: query)
            XCTAssertEqual(mapper.layers.map(\.index), [0, 1])
            let r = try mapper.maps(x, layers: [0, 1], rollout: true)
            var worst: Float = 0
            for l in 0..<2 { for n in 0..<2 { for h in 0..<2 { for j in 0..<16 {
                let want = rows.map { probs.data[(((l * 2 + n) * 2 + h) * 17 + $0) * 17 + j + 1] }.reduce(0, +) / Float(rows.count)
                worst = max(worst, abs(r.maps[l]!.data[((n * 2 + h) * 16) + j] - want))
            } } } }
            XCTAssertLessThanOrEqual(worst, 2e-6, "\(query) maps")
            worst = 0
            for n in 0..<2 { for j in 0..<16 {
                let want = rows.map { rollout.data[(n * 17 + $0) * 17 + j + 1] }.reduce(0, +) / Float(rows.count)
                worst = max(worst, abs(r.rollout!.data[n * 16 + j] - want))
            } }
            XCTAssertLessThanOrEqual(worst, 2e-6, "\(query) rollout")
        }
        // Rollout through layer 0 only is that layer's Â row.
        let first = try AttentionMapper(network: net, inputShape: [1, 3, 32, 32], query: nil).maps(x, layers: [0], rollout: true)
        XCTAssertNil(first.maps[1])
        for j in 0..<16 {
            let a = (0..<2).map { probs.data[((0 * 2 + 0) * 2 + $0) * 289 + j + 1] }.reduce(0, +) / 2
            XCTAssertEqual(first.rollout!.data[j], 0.5 * a, accuracy: 2e-6)
        }
    }

    /// The known answer: the class-0 logit reads patch 5's content, so saliency and integrated gradients peak on
    /// patch 5 wherever the image's bright square is, and Grad-CAM (on the token grid of block 0, class token
    /// dropped) peaks there when the square is on patch 5. (With the square elsewhere Grad-CAM shows the square:
    /// its channel weights are spatial means, as for CNNs.)
    func testTransformerAttributionsPeakOnThePatchTheLogitReads() throws {
        let net = try TinyViT.network()
        let x = TinyViT.images(brightPatches: [5, 10])
        func patchMass(_ maps: Tensor, _ n: Int) -> [Double] {
            (0..<16).map { p in
                var s = 0.0
                for y in 0..<4 { for xx in 0..<4 { s += Double(abs(maps.data[n * 256 + (p / 4 * 4 + y) * 16 + p % 4 * 4 + xx])) } }
                return s
            }
        }
        for method in [AttributionMethod.saliency, .integratedGradients, .gradCAM] {
            let a = try Attributor(network: net, options: .init(method: method, steps: 64, baseline: .zero), preprocess: .identity,
                                   inputShape: [1, 1, 16, 16])
            let r = try a.attribute(x, classes: [0, 0])
            for n in 0..<(method == .gradCAM ? 1 : 2) {
                let mass = patchMass(r.maps, n), total = mass.reduce(0, +)
                if method == .gradCAM {
                    XCTAssertEqual(mass.indices.max { mass[$0] < mass[$1] }, TinyViT.strongPatch, "\(method): \(mass)")
                    let grid = (0..<16).map { Double(r.layerMaps!.data[$0]) }, others = grid.reduce(0, +) - grid[TinyViT.strongPatch]
                    XCTAssertGreaterThan(grid[TinyViT.strongPatch], 3 * others / 15, "\(method) on the grid: \(grid)")
                    continue
                }
                XCTAssertEqual(mass.indices.max { mass[$0] < mass[$1] }, TinyViT.strongPatch, "\(method) image \(n): \(mass)")
                XCTAssertGreaterThan(mass[TinyViT.strongPatch] / total, 0.5, "\(method) image \(n)")
            }
            if method == .integratedGradients {
                for n in 0..<2 {
                    let sum = (0..<256).reduce(0.0) { $0 + Double(r.maps.data[n * 256 + $1]) }
                    XCTAssertEqual(sum, Double(r.logitDelta![n]), accuracy: 0.02 * abs(Double(r.logitDelta![n])), "completeness")
                }
            }
            if method == .gradCAM {
                XCTAssertEqual(a.layer, TokenLayout.viewName("/block0/Add_output_0"),
                               "default: the last token grid before the last attention (after it only the class token is read)")
                XCTAssertEqual(r.layerMaps?.shape, [2, 4, 4], "on the patch grid, class token dropped")
            }
        }
    }

    /// The gradient at a token-grid view is the view of the gradient at its value (the view feeds nothing itself).
    func testGradientAtAViewIsTheViewOfTheGradient() throws {
        let net = try TinyViT.network()
        let x = TinyViT.images(brightPatches: [5, 3])
        let raw = "/block0/Add_output_0", view = try XCTUnwrap(net.names.resolve("block0"))
        XCTAssertEqual(view, TokenLayout.viewName(raw))
        let seed = Tensor(zeros: [2, 2]); seed.data[0] = 1; seed.data[3] = -1
        _ = try net.forward(x, capture: ["logits", raw, view], keepForBackward: true)
        let g = try net.backward(from: ["logits": seed], at: [raw, "block0"])
        let gr = try XCTUnwrap(g[raw]), gv = try XCTUnwrap(g["block0"])
        XCTAssertEqual(gr.shape, [2, 17, 4])
        XCTAssertEqual(gv.shape, [2, 4, 4, 4])
        var nonzero = 0
        for n in 0..<2 { for c in 0..<4 { for p in 0..<16 {
            XCTAssertEqual(gv.data[((n * 4 + c) * 16) + p], gr.data[(n * 17 + p + 1) * 4 + c])
            if gv.data[((n * 4 + c) * 16) + p] != 0 { nonzero += 1 }
        } } }
        XCTAssertGreaterThan(nonzero, 0)
    }

    /// Swin (the small torchvision fixture, exported at batch 2): the two windowed blocks of stage 1 are mapped onto
    /// their 8×8 grid, the two of stage 2 (one 4×4 window: global) onto theirs, without a class token (the default
    /// query is the mean, whose maps then sum to 1); the rollout goes through the global ones; saliency, integrated
    /// gradients and Grad-CAM give finite maps, Grad-CAM on the last token grid (4×4) with a non-zero gradient there.
    func testSwinAttentionAndAttributions() throws {
        let dir = TransformerExplainTests.vitDir
        let net = try Network(contentsOf: dir.appendingPathComponent("swin.onnx").path)
        let x = try NPY.read(path: dir.appendingPathComponent("swin.input.npy").path)
        let mapper = try AttentionMapper(network: net, inputShape: x.shape, query: nil)
        XCTAssertEqual(mapper.layers.map(\.index), [0, 1, 2, 3])
        XCTAssertEqual(mapper.layers.map { $0.windows?.windows }, [4, 4, nil, nil], "stage 1: 4 windows per image")
        XCTAssertTrue(mapper.unmapped.isEmpty)
        XCTAssertEqual([mapper.tokens, mapper.classTokens, mapper.gridHeight, mapper.gridWidth], [16, 0, 4, 4])
        XCTAssertEqual(mapper.query, .mean)
        XCTAssertThrowsError(try AttentionMapper(network: net, inputShape: x.shape, query: .classToken))
        let r = try mapper.maps(x, layers: [0, 1, 2, 3], rollout: true)
        for (l, cells) in [(0, 64), (1, 64), (2, 16), (3, 16)] { for m in 0..<(2 * mapper.layers[l].heads) {
            XCTAssertEqual((0..<cells).reduce(0.0) { $0 + Double(r.maps[l]!.data[m * cells + $1]) }, 1, accuracy: 1e-5)
        } }
        XCTAssertEqual(try mapper.rolloutLayers(through: [3]).map(\.index), [2, 3])
        XCTAssertThrowsError(try mapper.rolloutLayers(through: [1]), "windowed layers only: no rollout")
        for n in 0..<2 { XCTAssertEqual((0..<16).reduce(0.0) { $0 + Double(r.rollout!.data[n * 16 + $1]) }, 1, accuracy: 1e-5) }
        for method in [AttributionMethod.saliency, .integratedGradients, .gradCAM] {
            let a = try Attributor(network: net, options: .init(method: method, steps: 8), preprocess: .identity, inputShape: x.shape)
            let result = try a.attribute(x, classes: [3, 7])
            XCTAssertEqual(result.maps.shape, [2, 32, 32])
            XCTAssertTrue(result.maps.toArray().allSatisfy(\.isFinite))
            XCTAssertGreaterThan(result.maps.toArray().map(abs).max()!, 0, "\(method)")
            if method == .gradCAM {
                XCTAssertEqual(result.layerMaps?.shape, [2, 4, 4], "layer \(a.layer ?? "-")")
                XCTAssertTrue(a.layer?.hasSuffix("::grid") ?? false, a.layer ?? "-")
            }
        }
    }

    /// Grad-CAM (default layer) and saliency of classes 3 and 7 on the ViT and Swin fixtures against PyTorch float64
    /// autograd (`make_attention_fixtures.py`): the ViT's last block's input norm with the class token dropped, Swin's
    /// final norm, both on the 4×4 patch grid.
    func testViTAndSwinGradCAMAndSaliencyMatchPyTorch() throws {
        let dir = TransformerExplainTests.vitDir
        for (name, module) in [("vit", "encoder.layers.encoder_layer_1.ln_1"), ("swin", "norm")] {
            let net = try Network(contentsOf: dir.appendingPathComponent("\(name).onnx").path)
            let x = try NPY.read(path: dir.appendingPathComponent("\(name).input.npy").path)
            let cam = try Attributor(network: net, options: .init(method: .gradCAM), preprocess: .identity, inputShape: x.shape)
            XCTAssertEqual(cam.layer, net.names.resolve(module), name)
            let got = try XCTUnwrap(try cam.attribute(x, classes: [3, 7]).layerMaps)
            let want = try NPY.read(path: dir.appendingPathComponent("\(name).gradcam.npy").path)
            XCTAssertEqual(got.shape, want.shape, name)
            XCTAssertGreaterThan(want.toArray().max()!, 0)
            XCTAssertLessThanOrEqual(zip(got.toArray(), want.toArray()).map { abs($0 - $1) }.max()!, 1e-4 * want.toArray().max()!, "\(name) Grad-CAM")
            let saliency = try Attributor(network: net, options: .init(method: .saliency), preprocess: .identity, inputShape: x.shape)
            let s = try saliency.attribute(x, classes: [3, 7]).maps
            let ref = try NPY.read(path: dir.appendingPathComponent("\(name).saliency.npy").path)
            XCTAssertEqual(s.shape, ref.shape)
            XCTAssertLessThanOrEqual(zip(s.toArray(), ref.toArray()).map { abs($0 - $1) }.max()!, 1e-4 * ref.toArray().max()!, "\(name) saliency")
        }
    }
}
