import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// Vision-transformer support: torchvision ViT / ConvNeXt / Swin / MaxViT (small random-weight variants) and the
/// exporter patterns (Fixtures/transformers, scripts/fixtures/make_transformer_fixtures.py) against onnxruntime and
/// float64 autograd; the new layers against naive double-precision references and finite differences.
final class TransformerTests: XCTestCase {
    static var dir: URL { FixtureTests.fixtures.appendingPathComponent("transformers") }

    /// d mean(v.select(axis, channel)) / d v.
    static func channelSeed(like v: Tensor, axis: Int, channel: Int) -> Tensor {
        let g = Tensor(zeros: v.shape)
        let inner = v.shape[(axis + 1)...].reduce(1, *), len = v.shape[axis], outer = v.count / max(inner * len, 1)
        let w = 1 / Float(max(outer * inner, 1))
        for o in 0..<outer { (g.data + (o * len + channel) * inner).update(repeating: w, count: inner) }
        return g
    }

    func checkTransformer(_ e: FixtureTests.Entry, passes: PassSelection = .environment) throws {
        let net = try Network(contentsOf: e.path("model")!, options: .init(passes: passes))
        let input = try NPY.read(path: e.path("input")!)
        let output = e.json["output_name"] as? String ?? "output"
        let act = try XCTUnwrap((e.json["activation"] as? [String: Any])?["onnx_value"] as? String)
        let gradient = e.json["gradient"] as? [String: Any]
        let channel = try XCTUnwrap(gradient?["channel"] as? Int), axis = gradient?["channel_axis"] as? Int ?? 1
        let values = try net.forward(input, capture: [output, act], keepForBackward: true)
        assertClose(values[output]!, try NPY.read(path: e.path("output")!), "\(e.name) output")
        assertClose(values[act]!, try NPY.read(path: e.path("act")!), "\(e.name) activation \(act)")
        let grad = try net.backward(from: [act: TransformerTests.channelSeed(like: values[act]!, axis: axis, channel: channel)])
        assertClose(grad, try NPY.read(path: e.path("grad")!), "\(e.name) input gradient", tolerance: 5e-4)
    }

    func testFixturesMatchOnnxruntimeAndFloat64Autograd() throws {
        let entries = try FixtureTests.manifest(TransformerTests.dir)
        XCTAssertEqual(Set(entries.map(\.name)), ["ops17", "ops20", "vit", "convnext", "swin", "maxvit"])
        for e in entries { try checkTransformer(e) }
    }

    func testUnoptimizedGraphsAgree() throws {
        for e in try FixtureTests.manifest(TransformerTests.dir) where ["ops17", "vit"].contains(e.name) {
            try checkTransformer(e, passes: .none)
        }
    }

    /// The real vit_b_16, convnext_tiny, swin_t and maxvit_t at 224² (random weights), generated on demand by
    /// `make_transformer_fixtures.py --full` (about 1 GB, never committed): skipped when absent.
    func testFullSizeModelsWhenGenerated() throws {
        let dir = URL(fileURLWithPath: "/tmp/atlas-fixtures/full-transformers")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("manifest.json").path) else {
            throw XCTSkip("\(dir.path) is absent (scripts/fixtures/make_transformer_fixtures.py --full)")
        }
        for e in try FixtureTests.manifest(dir) { try checkTransformer(e) }
    }

    /// The `gelu` pass fuses torch's exact and tanh decompositions (opset 17) into Gelu steps; opset 20 exports Gelu.
    func testGeluPatternsFuse() throws {
        func ops(_ name: String, _ passes: PassSelection) throws -> [String] {
            let e = try XCTUnwrap(try FixtureTests.manifest(TransformerTests.dir).first { $0.name == name })
            let net = try Network(contentsOf: e.path("model")!, options: .init(passes: passes))
            return try net.plan(for: try NPY.read(path: e.path("input")!).shape).steps.map(\.op)
        }
        let fused = try ops("ops17", .all), raw = try ops("ops17", .none)
        XCTAssertEqual(fused.filter { $0 == "Gelu" }.count, 2, "\(fused)")
        XCTAssertEqual(fused.filter { $0 == "Erf" }.count, 1, "torch.erf itself stays")
        XCTAssertEqual(fused.filter { $0 == "Tanh" }.count, 0)
        XCTAssertEqual(raw.filter { $0 == "Erf" }.count, 2)
        XCTAssertEqual(raw.filter { $0 == "Tanh" }.count, 1)
        XCTAssertEqual(try ops("ops20", .none).filter { $0 == "Gelu" }.count, 2)
        for model in ["vit", "convnext", "swin", "maxvit"] {
            XCTAssertFalse(try ops(model, .all).contains("Erf"), "\(model): every exact GELU is fused")
        }
    }

    /// tf2onnx's exact form (½x first, x·(1/√2)) and the tanh form with Pow(x, 3) fuse; an intermediate read elsewhere
    /// (here a graph output) blocks the rewrite.
    func testGeluVariantsAndABlockedMatch() throws {
        func scalar(_ m: inout ModelBuilder, _ name: String, _ v: Float) { m.floats(name, [], [v]) }
        func plan(_ m: ModelBuilder, outputs: [String]) throws -> (ops: [String], y: Tensor, x: Tensor) {
            let net = try Network(model: try m.read())
            let x = TestData.uniform([2, 9], in: -3...3, seed: 77)
            return (try net.plan(for: [2, 9]).steps.map(\.op), try net.forward(x, capture: Set(outputs))["y"]!, x)
        }
        var a = ModelBuilder()
        a.input("x", [2, 9])
        scalar(&a, "r2", 0.70710677); scalar(&a, "one", 1); scalar(&a, "half", 0.5)
        a.node("Mul", ["x", "r2"], ["s"]); a.node("Erf", ["s"], ["e"]); a.node("Add", ["one", "e"], ["h"])
        a.node("Mul", ["x", "half"], ["hx"]); a.node("Mul", ["hx", "h"], ["y"])
        a.output("y")
        let exact = try plan(a, outputs: ["y"])
        XCTAssertEqual(exact.ops, ["Gelu"])
        assertNear(exact.y, exact.x.toArray().map { v in Float(0.5 * Double(v) * (1 + Foundation.erf(Double(v) / 2.0.squareRoot()))) },
                   1e-6, "tf2onnx exact form")
        var t = ModelBuilder()
        t.input("x", [2, 9])
        scalar(&t, "three", 3); scalar(&t, "c", 0.044715); scalar(&t, "k", 0.7978846); scalar(&t, "one", 1); scalar(&t, "half", 0.5)
        t.node("Pow", ["x", "three"], ["x3"]); t.node("Mul", ["c", "x3"], ["q"]); t.node("Add", ["x", "q"], ["w"])
        t.node("Mul", ["w", "k"], ["u"]); t.node("Tanh", ["u"], ["th"]); t.node("Add", ["th", "one"], ["h"])
        t.node("Mul", ["h", "x"], ["p"]); t.node("Mul", ["half", "p"], ["y"])
        t.output("y")
        let tanh = try plan(t, outputs: ["y"])
        XCTAssertEqual(tanh.ops, ["Gelu"])
        XCTAssertEqual(tanh.y.toArray(), Gelu(tanhApproximation: true).forward([tanh.x]).toArray())
        var blocked = a
        blocked.output("e")
        XCTAssertEqual(try plan(blocked, outputs: ["y", "e"]).ops.filter { $0 == "Gelu" }.count, 0)
    }

    /// A token model given an image of the wrong size: a shape error naming the node that cannot take it.
    func testWrongImageSizeNamesTheNode() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(TransformerTests.dir).first { $0.name == "vit" })
        let net = try Network(contentsOf: e.path("model")!)
        XCTAssertThrowsError(try net.forward(Tensor(zeros: [1, 3, 48, 48]))) { error in
            switch error as? ModelError {
            case let .shape(node, _, _)?, let .invalidNode(node, _, _)?: XCTAssertFalse(node.isEmpty, "\(error)")
            default: XCTFail("\(error)")
            }
        }
    }

    /// Exported with a dynamic batch dimension, the ViT runs one image alone with the bits of its row in a batch of two.
    func testBatchOfOneMatchesTheBatch() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(TransformerTests.dir).first { $0.name == "vit" })
        let net = try Network(contentsOf: e.path("model")!)
        let input = try NPY.read(path: e.path("input")!)
        let both = try net.forward(input)["output"]!
        let one = Tensor(shape: [1] + input.shape.dropFirst(), values: Array(input.toArray()[..<(input.count / 2)]))
        let alone = try net.forward(one)["output"]!
        XCTAssertEqual(alone.toArray().map(\.bitPattern), Array(both.toArray()[..<(both.count / 2)]).map(\.bitPattern))
    }

    /// Layer aliases of token values name [B, C, h, w] views over the patch grid (ViT: class token dropped; Swin:
    /// [B, H, W, C] transposed), so channel objectives, galleries and atlases see channels and positions as in a CNN.
    func testTokenLayersAreChannelGrids() throws {
        let entries = try FixtureTests.manifest(TransformerTests.dir)
        for (name, module, dropped) in [("vit", "encoder.layers.encoder_layer_1", 1), ("swin", "features.3", 0)] {
            let e = try XCTUnwrap(entries.first { $0.name == name })
            let net = try Network(contentsOf: e.path("model")!)
            let raw = try XCTUnwrap((e.json["activation"] as? [String: Any])?["onnx_value"] as? String)
            XCTAssertEqual(net.names.resolve(module), TokenLayout.viewName(raw), name)
            let input = try NPY.read(path: e.path("input")!), act = try NPY.read(path: e.path("act")!)
            let v = try net.forward(input, capture: [module, raw], keepForBackward: true)
            let grid = try XCTUnwrap(v[module]), c = act.shape.last!, n = act.shape[0]
            let positions = act.count / (n * c) - dropped, side = Int(Double(positions).squareRoot())
            XCTAssertEqual(grid.shape, [n, c, side, side], name)
            var worst: Float = 0
            for b in 0..<n { for ch in 0..<c { for p in 0..<positions {
                let want = act.data[(b * (positions + dropped) + p + dropped) * c + ch]
                worst = max(worst, abs(grid.data[(b * c + ch) * positions + p] - want))
            } } }
            XCTAssertLessThanOrEqual(worst, 1e-4 * max(1, act.toArray().map(abs).max()!), name)
            // Lowering's channel objective on the view = the raw value's objective over the patch tokens.
            let channel = 5
            let objective = try MeanObjective(parsing: "\(module):\(channel)", names: net.names)
            let viaGrid = try net.backward(from: [module: try objective.seed(like: grid)])
            _ = try net.forward(input, capture: [raw], keepForBackward: true)
            let seed = Tensor(zeros: v[raw]!.shape)
            for b in 0..<n { for p in 0..<positions { seed.data[(b * (positions + dropped) + p + dropped) * c + channel] = 1 / Float(n * positions) } }
            let viaRaw = try net.backward(from: [raw: seed])
            XCTAssertEqual(viaGrid.toArray(), viaRaw.toArray(), "\(name): gradient through the view")
            let rows = try net.plan(for: input.shape).layers(names: net.names)
            let row = try XCTUnwrap(rows.first { $0.value == raw })
            XCTAssertEqual(row.axes, name == "vit" ? "batch, tokens, channels" : "batch, H, W, channels")
            XCTAssertEqual(row.channels, c)
        }
        // CNN layers keep their values and NCHW listing.
        let cnn = try XCTUnwrap(try FixtureTests.manifest(FixtureTests.fixtures.appendingPathComponent("models")).first { $0.name == "resnet18" })
        let net = try Network(contentsOf: cnn.path("model")!)
        XCTAssertFalse(net.graph.nodes.contains { $0.opType == TokenLayout.viewOp })
    }

    /// The attention sites of the ViT are its two Softmaxes, [B, heads, T, T] with rows summing to 1; rollout of
    /// uniform attention is uniform, and of identity-like attention is the identity.
    func testAttentionSitesAndRollout() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(TransformerTests.dir).first { $0.name == "vit" })
        let net = try Network(contentsOf: e.path("model")!)
        let sites = Attention.sites(net.graph)
        XCTAssertEqual(sites.map(\.softmaxNode), (0..<2).map { "/encoder/layers/encoder_layer_\($0)/self_attention/Softmax" })
        XCTAssertEqual(sites.map(\.valueProduct), (0..<2).map { "/encoder/layers/encoder_layer_\($0)/self_attention/MatMul_2" })
        let v = try net.forward(try NPY.read(path: e.path("input")!), capture: Set(sites.map(\.probabilities)))
        let probs = sites.map { v[$0.probabilities]! }
        for p in probs {
            XCTAssertEqual(p.shape, [2, 2, 17, 17])
            for row in 0..<(p.count / 17) { XCTAssertEqual((0..<17).map { p.data[row * 17 + $0] }.reduce(0, +), 1, accuracy: 1e-5) }
        }
        let r = try Attention.rollout(probs)
        XCTAssertEqual(r.shape, [2, 17, 17])
        // Closed forms: uniform attention (1/T) rolls out to ½·(1/T) + ½·(previous) …, whose rows stay stochastic;
        // after L layers R = (1 − 2^−L)·(1/T) + 2^−L·I.
        let t = 5, uniform = Tensor(shape: [1, 3, t, t], repeating: 1 / Float(t))
        let rolled = try Attention.rollout([uniform, uniform, uniform])
        for i in 0..<t { for j in 0..<t {
            let want = (1 - 0.125) / Double(t) + (i == j ? 0.125 : 0)
            XCTAssertEqual(Double(rolled.data[i * t + j]), want, accuracy: 1e-6)
        } }
        for row in 0..<(2 * 17) { XCTAssertEqual((0..<17).map { r.data[row * 17 + $0] }.reduce(0, +), 1, accuracy: 1e-5) }
        XCTAssertThrowsError(try Attention.rollout([Tensor(zeros: [1, 2, 3, 4])]))
    }

    // MARK: layers

    func naiveLayerNorm(_ x: Tensor, axis: Int, eps: Double, scale: [Float], bias: [Float]) -> [Float] {
        let n = x.shape[axis...].reduce(1, *), rows = x.count / n
        var out = [Float]()
        for r in 0..<rows {
            let v = (0..<n).map { Double(x.data[r * n + $0]) }
            let mean = v.reduce(0, +) / Double(n)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            for j in 0..<n { out.append(Float((v[j] - mean) / (variance + eps).squareRoot() * Double(scale[j]) + Double(bias[j]))) }
        }
        return out
    }

    func assertNear(_ a: Tensor, _ b: [Float], _ tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(TestData.maxRelativeError(a, Tensor(shape: a.shape, values: b)), tol, what, file: file, line: line)
    }

    func assertGradient(_ layer: Layer, _ inputs: [Tensor], eps: Float = 1e-2, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let report = GradientCheck.check(layer, inputs: inputs, eps: eps, samples: 300)
        XCTAssertLessThan(report.maxError, 2e-3, "\(what): \(report)", file: file, line: line)
    }

    func testLayerNormalization() throws {
        for (shape, axis) in [([2, 5, 7], 2), ([2, 5, 7], 1), ([3, 4], 0), ([2, 3, 2, 3], 3), ([4, 9], 1)] {
            let x = TestData.uniform(shape, in: -3...3, seed: UInt64(10 + axis + shape.count))
            let n = shape[axis...].reduce(1, *)
            let scale = TestData.uniform([n], in: 0.5...1.5, seed: 3), bias = TestData.uniform([n], in: -0.5...0.5, seed: 4)
            let layer = LayerNorm(axis: axis, epsilon: 1e-5, scale: scale, bias: bias)
            XCTAssertEqual(try layer.outputShape([shape]), shape)
            let y = layer.forward([x])
            assertNear(y, naiveLayerNorm(x, axis: axis, eps: 1e-5, scale: scale.toArray(), bias: bias.toArray()), 2e-6,
                       "LayerNorm \(shape) axis \(axis)")
            assertGradient(layer, [x], "LayerNorm \(shape) axis \(axis)")
            // Negative axis, scalar scale, no bias.
            let plain = LayerNorm(axis: axis - shape.count, epsilon: 1e-3, scale: Tensor(shape: [1], values: [2]), bias: nil)
            assertNear(plain.forward([x]), naiveLayerNorm(x, axis: axis, eps: 1e-3, scale: [Float](repeating: 2, count: n),
                                                          bias: [Float](repeating: 0, count: n)), 2e-6, "LayerNorm scalar scale")
            assertGradient(plain, [x], "LayerNorm scalar scale")
        }
        // The optional Mean and InvStdDev outputs.
        let x = TestData.uniform([2, 3, 4], in: -2...2, seed: 8)
        for inverse in [false, true] {
            let stat = LayerNormStatistic(axis: 1, epsilon: 1e-3, inverseDeviation: inverse)
            XCTAssertEqual(try stat.outputShape([x.shape]), [2, 1, 1])
            let rows = (0..<2).map { r in (0..<12).map { Double(x.data[r * 12 + $0]) } }
            let want = rows.map { v -> Float in
                let m = v.reduce(0, +) / 12, variance = v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 12
                return Float(inverse ? 1 / (variance + 1e-3).squareRoot() : m)
            }
            assertNear(stat.forward([x]), want, 2e-6, stat.name)
            assertGradient(stat, [x], stat.name)
        }
        XCTAssertThrowsError(try LayerNorm(axis: 1, scale: Tensor(zeros: [5]), bias: nil).outputShape([[2, 3, 4]]))
        XCTAssertThrowsError(try LayerNorm(axis: 3, scale: Tensor(zeros: [1]), bias: nil).outputShape([[2, 3, 4]]))
    }

    /// The AVX-512 rows against the portable path and the double reference, odd row lengths, with and without β,
    /// and bit-identical at any thread count.
    func testLayerNormRowKernelMatchesThePortablePath() throws {
        guard GEMMKernel.avx512.isAvailable else { throw XCTSkip("no AVX-512 on this machine") }
        for n in [2, 7, 16, 17, 33, 768] {
            let x = TestData.uniform([5, n], in: -3...3, seed: UInt64(n)), scale = TestData.uniform([n], in: 0.5...1.5, seed: 3)
            for bias in [TestData.uniform([n], in: -0.5...0.5, seed: 4), nil] {
                let layer = LayerNorm(axis: 1, epsilon: 1e-6, scale: scale, bias: bias)
                let fast = GEMM.withKernel(.avx512) { layer.forward([x]) }
                let portable = GEMM.withKernel(.avx2) { layer.forward([x]) }
                XCTAssertLessThanOrEqual(TestData.maxRelativeError(fast, portable), 1e-6, "n \(n)")
                assertNear(fast, naiveLayerNorm(x, axis: 1, eps: 1e-6, scale: scale.toArray(),
                                                bias: bias?.toArray() ?? [Float](repeating: 0, count: n)), 2e-6, "n \(n)")
                let one = GEMM.withKernel(.avx512) { Parallel.withThreads(1) { layer.forward([x]) } }
                XCTAssertEqual(one.toArray().map(\.bitPattern), fast.toArray().map(\.bitPattern), "n \(n), 1 thread")
                let g = TestData.uniform([5, n], in: -1...1, seed: UInt64(n) + 9)
                let grads = [GEMMKernel.avx512, .avx2].map { kernel in
                    GEMM.withKernel(kernel) { layer.backward([x], output: fast, gradOutput: g, needsGrad: [true])[0]! }
                }
                XCTAssertLessThanOrEqual(TestData.maxRelativeError(grads[0], grads[1]), 1e-5, "gradient n \(n)")
                // (At n = 2, x̂ = ±1: finite differences are ill-posed.)
                if n > 2 { GEMM.withKernel(.avx512) { assertGradient(layer, [x], "LayerNorm rows n \(n)") } }
            }
        }
    }

    func testErfAndGelu() {
        let x = TestData.uniform([3, 50], in: -4...4, seed: 21)
        let v = x.toArray().map(Double.init)
        assertNear(Erf().forward([x]), v.map { Float(Foundation.erf($0)) }, 1e-6, "erf")
        let exact = v.map { Float(0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot()))) }
        assertNear(Gelu().forward([x]), exact, 1e-6, "gelu")
        let tanh = v.map { Float(0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0)))) }
        assertNear(Gelu(tanhApproximation: true).forward([x]), tanh, 1e-6, "gelu tanh")
        for layer in [Erf(), Gelu(), Gelu(tanhApproximation: true)] as [Layer] { assertGradient(layer, [x], eps: 1e-3, layer.name) }
    }

    func testGatherWithRepeatedIndices() throws {
        let x = TestData.uniform([2, 4, 3], seed: 5)
        let layer = GatherLayer(axis: 1, indices: [3, 0, 3], indexShape: [3])
        XCTAssertEqual(try layer.outputShape([x.shape]), [2, 3, 3])
        let y = layer.forward([x])
        for b in 0..<2 { for (j, i) in [3, 0, 3].enumerated() { for c in 0..<3 {
            XCTAssertEqual(y.data[(b * 3 + j) * 3 + c], x.data[(b * 4 + i) * 3 + c])
        } } }
        assertGradient(layer, [x], "Gather")
        let scalar = GatherLayer(axis: 0, indices: [1], indexShape: [])
        XCTAssertEqual(try scalar.outputShape([x.shape]), [4, 3])
        XCTAssertEqual(scalar.forward([x]).toArray(), Array(x.toArray()[12...]))
        XCTAssertThrowsError(try GatherLayer(axis: 1, indices: [4], indexShape: [1]).outputShape([x.shape]))
        // A contiguous run (one outer block: axis 0, or unit dimensions before the axis) is a view; its gradient is the
        // output gradient in place, zeros elsewhere.
        let t = TestData.uniform([1, 3, 4, 5], seed: 6)
        for run in [GatherLayer(axis: 1, indices: [2], indexShape: []), GatherLayer(axis: 1, indices: [1, 2], indexShape: [2])] {
            let y = run.forward([t])
            XCTAssertTrue(y.storage === t.storage, "view")
            XCTAssertEqual(y.toArray(), Array(t.toArray()[(run.indices[0] * 20)..<((run.indices[0] + run.indices.count) * 20)]))
            let g = TestData.uniform(y.shape, seed: 7)
            let gx = run.backward([t], output: y, gradOutput: g, needsGrad: [true])[0]!
            var want = [Float](repeating: 0, count: t.count)
            for (e, v) in g.toArray().enumerated() { want[run.indices[0] * 20 + e] = v }
            XCTAssertEqual(gx.toArray(), want)
            assertGradient(run, [t], "Gather run")
        }
    }

    /// Two-operand einsums, as torch exports them, against a naive double-precision sum; input gradients against
    /// central differences through the whole lowered chain.
    func testEinsumForms() throws {
        let forms: [(String, [Int], [Int])] = [
            ("bgid,bgjd->bgij", [2, 3, 4, 5], [2, 3, 6, 5]),
            ("bgij,bgjd->bgid", [2, 3, 4, 6], [2, 3, 6, 5]),
            ("bid,bjd->bij", [2, 4, 3], [1, 5, 3]),
            ("ij,jk->ik", [3, 4], [4, 2]),
            ("bhqd,bkhd->bhqk", [2, 2, 3, 4], [2, 5, 2, 4]),
            ("nc,kc->kn", [3, 4], [5, 4]),
        ]
        for (k, (equation, sa, sb)) in forms.enumerated() {
            var m = ModelBuilder()
            m.input("a", sa.map { Int64($0) })
            m.input("b", sb.map { Int64($0) })
            m.node("Einsum", ["a", "b"], ["y"], name: "einsum", [ModelBuilder.stringAttr("equation", equation)])
            m.output("y")
            let net = try Network(model: try m.read())
            let a = TestData.uniform(sa, seed: UInt64(30 + k)), b = TestData.uniform(sb, seed: UInt64(60 + k))
            let values = try net.forward(inputs: ["a": a, "b": b], capture: ["y"], keepForBackward: true)
            let y = try XCTUnwrap(values["y"])
            let ref = naiveEinsum(equation, a, b)
            XCTAssertEqual(y.shape, ref.shape, equation)
            assertNear(y, ref.values, 1e-5, equation)
            // Gradient of ⟨r, y⟩ with respect to a, against central differences of the naive sum.
            let r = TestData.uniform(y.shape, seed: 9)
            let ga = try net.backward(from: ["y": r], wrt: "a")
            for i in Swift.stride(from: 0, to: a.count, by: max(1, a.count / 17)) {
                let saved = a.data[i]
                a.data[i] = saved + 1e-2
                let up = zip(naiveEinsum(equation, a, b).values, r.toArray()).map { Double($0) * Double($1) }.reduce(0, +)
                a.data[i] = saved - 1e-2
                let down = zip(naiveEinsum(equation, a, b).values, r.toArray()).map { Double($0) * Double($1) }.reduce(0, +)
                a.data[i] = saved
                XCTAssertEqual(Double(ga.data[i]), (up - down) / 2e-2, accuracy: 1e-4, "\(equation) d/da[\(i)]")
            }
        }
        var m = ModelBuilder()
        m.input("a", [2, 3])
        m.node("Einsum", ["a", "a"], ["y"], name: "trace_like", [ModelBuilder.stringAttr("equation", "...i,...i->...")])
        m.output("y")
        XCTAssertThrowsError(try Network(model: try m.read()).forward(Tensor(zeros: [2, 3]), capture: ["y"])) { error in
            XCTAssertTrue("\(error)".contains("trace_like"), "\(error)")
        }
    }

    func naiveEinsum(_ equation: String, _ a: Tensor, _ b: Tensor) -> (shape: [Int], values: [Float]) {
        let sides = equation.components(separatedBy: "->"), ops = sides[0].split(separator: ",").map(Array.init)
        let out = Array(sides[1])
        var size: [Character: Int] = [:]
        for (term, t) in [(ops[0], a), (ops[1], b)] { for (d, ch) in term.enumerated() { size[ch] = max(size[ch] ?? 1, t.shape[d]) } }
        let all = Array(Set(ops[0] + ops[1])).sorted()
        let shape = out.map { size[$0]! }
        var result = [Double](repeating: 0, count: shape.reduce(1, *))
        func flat(_ term: [Character], _ t: Tensor, _ at: [Character: Int]) -> Int {
            term.enumerated().reduce(0) { acc, p in acc * t.shape[p.offset] + (t.shape[p.offset] == 1 ? 0 : at[p.element]!) }
        }
        func walk(_ i: Int, _ at: inout [Character: Int]) {
            if i == all.count {
                let o = out.reduce(0) { $0 * size[$1]! + at[$1]! }
                result[o] += Double(a.data[flat(ops[0], a, at)]) * Double(b.data[flat(ops[1], b, at)])
                return
            }
            for v in 0..<size[all[i]]! { at[all[i]] = v; walk(i + 1, &at) }
        }
        var at: [Character: Int] = [:]
        walk(0, &at)
        return (shape, result.map { Float($0) })
    }
}
