import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation
import XCTest

/// The load-time optimizer (Sources/AtlasNet/Passes): each pass on the patterns as torch exports them
/// (Fixtures/passes, scripts/fixtures/make_pass_fixtures.py) against onnxruntime and float64 autograd, and the optimized
/// graph against the unoptimized one; hand-built graphs for the cases a pass must leave alone.
final class OptimizerTests: XCTestCase {
    static var passFixtures: URL { FixtureTests.fixtures.appendingPathComponent("passes") }

    /// Max |a − b| ≤ 1e-6 · max(1, max |b|): the optimized graph against the unoptimized one.
    func assertSame(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.count == b.count else { return }
        let scale = max(1, b.toArray().map(abs).max() ?? 0)
        let err = zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(err, 1e-6 * scale, "\(what): max difference \(err), scale \(scale)", file: file, line: line)
    }

    /// Output, and input gradient of ⟨r, output⟩ for a fixed random r.
    func run(_ net: Network, _ x: Tensor, output: String) throws -> (Tensor, Tensor) {
        let y = try net.forward(x, capture: [output], keepForBackward: true)[output]!
        let r = TestData.uniform(y.shape, seed: 99)
        return (y, try net.backward(from: [output: r]))
    }

    func testPassFixturesMatchReferencesAndTheUnoptimizedGraph() throws {
        let entries = try FixtureTests.manifest(OptimizerTests.passFixtures)
        XCTAssertEqual(entries.count, 4)
        for e in entries {
            try check(e, passes: .all)
            try check(e, passes: .none)
            let path = e.path("model")!, x = try NPY.read(path: e.path("input")!)
            let optimized = try Network(contentsOf: path, options: .init(passes: .all))
            let raw = try Network(contentsOf: path, options: .init(passes: .none))
            let output = e.json["output_name"] as? String ?? "output"
            let (y1, g1) = try run(optimized, x, output: output), (y0, g0) = try run(raw, x, output: output)
            assertSame(y1, y0, "\(e.name) output")
            assertSame(g1, g0, "\(e.name) input gradient")
            let report = try optimized.plan(for: x.shape).optimization
            let counts = Dictionary(uniqueKeysWithValues: report.rewrites.map { ($0.pass, $0.count) })
            for (pass, expected) in e.json["passes"] as? [String: Int] ?? [:] {
                XCTAssertEqual(counts[pass], expected, "\(e.name): rewrites by \(pass) (\(report.rewrites))")
            }
            XCTAssertTrue(try raw.plan(for: x.shape).optimization.rewrites.isEmpty)
        }
    }

    func testPatternsAreGoneFromTheOptimizedPlans() throws {
        func ops(_ name: String, _ passes: PassSelection = .all) throws -> [String] {
            let e = try XCTUnwrap(try FixtureTests.manifest(OptimizerTests.passFixtures).first { $0.name == name })
            let net = try Network(contentsOf: e.path("model")!, options: .init(passes: passes))
            return try net.plan(for: try NPY.read(path: e.path("input")!).shape).steps.map(\.op)
        }
        // The channel-axis pad stays; the four spatial ones are gone.
        XCTAssertEqual(try ops("pass_pads").filter { $0 == "Pad" }.count, 1)
        XCTAssertEqual(try ops("pass_pads", .none).filter { $0 == "Pad" }.count, 5)
        let acts = try ops("pass_acts")
        XCTAssertEqual(acts.filter { ["Sigmoid", "HardSigmoid", "Mul"].contains($0) }, ["Mul"])   // the ×3 stays
        XCTAssertEqual(acts.filter { $0 == "Relu" }.count, 1)
        XCTAssertEqual(acts.filter { $0 == "Clip" }.count, 1)
        XCTAssertTrue(acts.contains("SiLU") && acts.contains("HardSwish"))
        // Size 5 becomes LRN; size 4 (an even window, which ONNX's LRN centres differently) stays decomposed.
        let lrn = try ops("pass_lrn")
        XCTAssertEqual(lrn.filter { $0 == "LRN" }.count, 1)
        XCTAssertEqual(lrn.filter { $0 == "Pow" }.count, 1)
        let shapes = try ops("pass_shapes")
        XCTAssertEqual(shapes.filter { $0 == "Transpose" }.count, 1)
        XCTAssertLessThanOrEqual(shapes.filter { ["Reshape", "Squeeze", "Unsqueeze"].contains($0) }.count, 1)
    }

    /// A graph x → Pad(-inf, end 2 on W) → MaxPool(k2, s2, ceil): the last window holds only padding, so folding the
    /// pad would drop it (another output shape); the pass leaves it alone.
    func testCeilModePadThatWouldChangeTheShapeStays() throws {
        let g = Graph(nodes: [
            Node(name: "pad", opType: "Pad", inputs: ["x", "pads", "v"], outputs: ["p"], opset: 13),
            Node(name: "pool", opType: "MaxPool", inputs: ["p"], outputs: ["y"],
                 attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)], opset: 13),
        ], inputs: [ValueInfo(name: "x", shape: [.fixed(1), .fixed(2), .fixed(4), .fixed(13)])],
           outputs: [ValueInfo(name: "y")],
           constants: ["pads": Constant(ints: [0, 0, 0, 0, 0, 0, 0, 2]), "v": Constant(shape: [], floats: [-.infinity])])
        let net = try Network(model: Model(graph: g))
        let plan = try net.plan(for: [1, 2, 4, 13])
        XCTAssertEqual(plan.optimization.rewrites.first { $0.pass == "fold-pads" }?.count, 0)
        XCTAssertEqual(plan.shapes["y"], [1, 2, 2, 8])
    }

    /// A pad read by two convolutions, or in reflect mode, stays.
    func testPadsThatCannotFoldStay() throws {
        let w = TestData.uniform([2, 2, 3, 3], seed: 3)
        func graph(mode: String, twoReaders: Bool) -> Graph {
            var nodes = [
                Node(name: "pad", opType: "Pad", inputs: ["x", "pads"], outputs: ["p"], attributes: ["mode": .string(mode)], opset: 13),
                Node(name: "c1", opType: "Conv", inputs: ["p", "w"], outputs: ["y"], opset: 13),
            ]
            if twoReaders { nodes.append(Node(name: "c2", opType: "Conv", inputs: ["p", "w"], outputs: ["z"], opset: 13)) }
            return Graph(nodes: nodes, inputs: [ValueInfo(name: "x", shape: [.fixed(1), .fixed(2), .fixed(6), .fixed(6)])],
                         outputs: [ValueInfo(name: "y")] + (twoReaders ? [ValueInfo(name: "z")] : []),
                         constants: ["pads": Constant(ints: [0, 0, 1, 1, 0, 0, 1, 1]), "w": Constant(w)])
        }
        for (mode, two, folds) in [("constant", false, 1), ("reflect", false, 0), ("constant", true, 0)] {
            let plan = try Network(model: Model(graph: graph(mode: mode, twoReaders: two))).plan(for: [1, 2, 6, 6])
            XCTAssertEqual(plan.optimization.rewrites.first { $0.pass == "fold-pads" }?.count, folds, "\(mode), two: \(two)")
        }
    }

    /// Transpose pairs: one that undoes itself disappears (its value answers as the input's), one that does not
    /// becomes a single Transpose with the composed permutation; values are unchanged either way.
    func testTransposePairs() throws {
        func graph(_ p: [Int], _ q: [Int]) -> Graph {
            Graph(nodes: [
                Node(name: "t1", opType: "Transpose", inputs: ["x"], outputs: ["a"], attributes: ["perm": .ints(p)], opset: 13),
                Node(name: "t2", opType: "Transpose", inputs: ["a"], outputs: ["b"], attributes: ["perm": .ints(q)], opset: 13),
                Node(name: "neg", opType: "Neg", inputs: ["b"], outputs: ["y"], opset: 13),
            ], inputs: [ValueInfo(name: "x", shape: [.fixed(2), .fixed(3), .fixed(4), .fixed(5)])], outputs: [ValueInfo(name: "y")])
        }
        let x = TestData.uniform([2, 3, 4, 5], seed: 41)
        for (p, q, steps) in [([0, 2, 3, 1], [0, 3, 1, 2], ["Neg"]), ([0, 1, 3, 2], [0, 2, 1, 3], ["Transpose", "Neg"])] {
            let optimized = try Network(model: Model(graph: graph(p, q)), options: .init(passes: .all))
            let raw = try Network(model: Model(graph: graph(p, q)), options: .init(passes: .none))
            XCTAssertEqual(try optimized.plan(for: x.shape).steps.map(\.op), steps)
            let (y1, g1) = try run(optimized, x, output: "y"), (y0, g0) = try run(raw, x, output: "y")
            XCTAssertEqual(y1.toArray(), y0.toArray())
            XCTAssertEqual(g1.toArray(), g0.toArray())
        }
    }

    /// `matmul-bias`: Linear layers on tokens (MatMul + Add of a [N] or [1, 1, N] constant, either operand order) fold
    /// into one MatMul, bit for bit forward and backward; a bias that is not over the last axis alone, and a product
    /// read twice, stay.
    func testMatMulBias() throws {
        let w = TestData.uniform([24, 40], seed: 51), w2 = TestData.uniform([40, 40], seed: 52)
        let g = Graph(nodes: [
            Node(name: "mm1", opType: "MatMul", inputs: ["x", "w"], outputs: ["p1"], opset: 13),
            Node(name: "add1", opType: "Add", inputs: ["p1", "b"], outputs: ["h1"], opset: 13),
            Node(name: "mm2", opType: "MatMul", inputs: ["h1", "w2"], outputs: ["p2"], opset: 13),
            Node(name: "add2", opType: "Add", inputs: ["b3", "p2"], outputs: ["h2"], opset: 13),
            Node(name: "mm3", opType: "MatMul", inputs: ["h2", "w2"], outputs: ["p3"], opset: 13),
            Node(name: "add3", opType: "Add", inputs: ["p3", "bt"], outputs: ["h3"], opset: 13),   // [5, 40]: stays
            Node(name: "mm4", opType: "MatMul", inputs: ["h3", "w2"], outputs: ["p4"], opset: 13),
            Node(name: "add4", opType: "Add", inputs: ["p4", "b"], outputs: ["h4"], opset: 13),
            Node(name: "sum", opType: "Add", inputs: ["h4", "p4"], outputs: ["y"], opset: 13),      // p4 read twice
        ], inputs: [ValueInfo(name: "x", shape: [.fixed(2), .fixed(5), .fixed(24)])], outputs: [ValueInfo(name: "y")],
           constants: ["w": Constant(w), "w2": Constant(w2), "b": Constant(TestData.uniform([40], seed: 53)),
                       "b3": Constant(TestData.uniform([1, 1, 40], seed: 54)), "bt": Constant(TestData.uniform([5, 40], seed: 55))])
        let x = TestData.uniform([2, 5, 24], seed: 56)
        let optimized = try Network(model: Model(graph: g), options: .init(passes: .all))
        let raw = try Network(model: Model(graph: g), options: .init(passes: .none))
        let plan = try optimized.plan(for: x.shape)
        XCTAssertEqual(plan.optimization.rewrites.first { $0.pass == "matmul-bias" }?.count, 2)
        XCTAssertEqual(plan.steps.map(\.op), ["MatMulBias", "MatMulBias", "MatMul", "Add", "MatMul", "Add", "Add"])
        let (y1, g1) = try run(optimized, x, output: "y"), (y0, g0) = try run(raw, x, output: "y")
        XCTAssertEqual(y1.toArray().map(\.bitPattern), y0.toArray().map(\.bitPattern))
        XCTAssertEqual(g1.toArray().map(\.bitPattern), g0.toArray().map(\.bitPattern))
    }

    func testPassSelectionParsing() {
        let (some, unknown) = PassSelection.parse("-lrn, -fold-pads,-nonsense,all")
        XCTAssertEqual(some.disabled, ["lrn", "fold-pads"])
        XCTAssertEqual(unknown, ["-nonsense"])
        XCTAssertEqual(PassSelection.parse("none").selection, .none)
        XCTAssertEqual(PassSelection.parse("-all").selection.disabled.count, GraphOptimizer.passes.count)
        XCTAssertEqual(PassSelection.parse("").selection, .all)
    }

    /// A value inside a replaced pattern names its pass when requested; a removed no-op reshape still answers (it is
    /// its input's value).
    func testRemovedValuesExplainThemselvesAndNoOpsStayRequestable() throws {
        let e = try XCTUnwrap(try FixtureTests.manifest(OptimizerTests.passFixtures).first { $0.name == "pass_lrn" })
        let net = try Network(contentsOf: e.path("model")!, options: .init(passes: .all))
        let x = try NPY.read(path: e.path("input")!)
        let removed = try XCTUnwrap(net.plan(for: x.shape).optimization.removed.filter { $0.value == "lrn" }.keys.sorted()
            .first { net.names.resolve($0) != nil })
        XCTAssertThrowsError(try net.forward(x, capture: [removed])) { error in
            XCTAssertTrue("\(error)".contains("ATLAS_PASSES=-lrn"), "\(error)")
        }
        let s = try XCTUnwrap(try FixtureTests.manifest(OptimizerTests.passFixtures).first { $0.name == "pass_shapes" })
        let shapes = try Network(contentsOf: s.path("model")!, options: .init(passes: .all))
        let xs = try NPY.read(path: s.path("input")!)
        let (alias, value) = try XCTUnwrap(shapes.plan(for: xs.shape).optimization.aliases.sorted { $0.key < $1.key }
            .first { shapes.names.resolve($0.key) != nil })
        let v = try shapes.forward(xs, capture: [alias, value])
        XCTAssertEqual(v[alias]?.toArray(), v[value]?.toArray())
    }

    /// Clip(0, +∞) and Relu have the same gradient bit for bit, exact zeros included (Clip's gradient passes where
    /// min < y < max, reading only the output).
    func testClipGradientMatchesRelu() {
        let x = TestData.uniform([64], seed: 5)
        for i in stride(from: 0, to: 64, by: 5) { x.data[i] = 0 }
        let g = TestData.uniform([64], seed: 6)
        let clip = Clip(min: 0, max: .greatestFiniteMagnitude), relu = Relu()
        let yc = clip.forward([x]), yr = relu.forward([x])
        XCTAssertEqual(yc.toArray(), yr.toArray())
        let gc = clip.backward([x], output: yc, gradOutput: g, needsGrad: [true])[0]!
        let gr = relu.backward([x], output: yr, gradOutput: g, needsGrad: [true])[0]!
        XCTAssertEqual(gc.toArray().map(\.bitPattern), gr.toArray().map(\.bitPattern))
        XCTAssertEqual(clip.backwardReads, .output)
    }

    /// Conv → Clip / SiLU / HardSwish fused by the conv gives the separate steps' bits, on every conv path.
    func testFusedActivationsAreBitIdentical() {
        let activations: [any ElementwiseLayer] = [Relu(), Clip(min: 0, max: 6), SiLU(), HardSwish(), HardSigmoid()]
        let shapes: [([Int], [Int], Int)] = [([2, 8, 12, 12], [8, 8, 3, 3], 1), ([2, 8, 9, 9], [16, 8, 1, 1], 1),
                                            ([2, 8, 7, 7], [8, 1, 3, 3], 8), ([1, 3, 10, 10], [4, 3, 5, 5], 1)]
        for (xs, ws, groups) in shapes {
            let x = TestData.uniform(xs, in: -3...3, seed: 21), w = TestData.uniform(ws, seed: 22)
            let conv = Conv2D(weight: w, bias: TestData.uniform([ws[0]], seed: 23), stride: [1, 1],
                              pads: ws[2] == 1 ? [0, 0, 0, 0] : [1, 1, 1, 1], dilation: [1, 1], groups: groups)
            let plain = conv.forward([x])
            for a in activations {
                let fused = conv.forward([x], activation: a).toArray().map(\.bitPattern)
                XCTAssertEqual(fused, a.forward([plain]).toArray().map(\.bitPattern), "\(a.name) after conv \(ws)")
            }
        }
    }

    /// SiLU's gradient against finite differences.
    func testSiLUGradient() {
        let x = TestData.uniform([2, 3, 4, 4], in: -4...4, seed: 31)
        let report = GradientCheck.check(SiLU(), inputs: [x], eps: 1e-3)
        XCTAssertLessThan(report.maxError, 1e-3, "\(report)")
    }
}
