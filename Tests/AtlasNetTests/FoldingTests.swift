import AtlasCore
import AtlasNet
import Foundation
import XCTest

final class FoldingTests: XCTestCase {
    /// torch.flatten as the TorchScript exporter writes it when the batch is dynamic:
    /// Shape → Gather(0) → Unsqueeze → Concat(-1) → Reshape.
    func torchFlatten(opset: Int64) -> ModelBuilder {
        var b = ModelBuilder()
        b.opset = opset
        b.input("x", [nil, 3, 4, 4])
        b.node("Shape", ["x"], ["s"])
        var zero = Onnx_TensorProto()
        zero.dataType = 7; zero.int64Data = [0]   // scalar index
        b.node("Constant", [], ["i0"], [ModelBuilder.tensorAttr("value", zero)])
        b.node("Gather", ["s", "i0"], ["g"], [ModelBuilder.intAttr("axis", 0)])
        if opset >= 13 {
            b.ints("axes0", [1], [0])
            b.node("Unsqueeze", ["g", "axes0"], ["u"])
        } else {
            b.node("Unsqueeze", ["g"], ["u"], [ModelBuilder.intsAttr("axes", [0])])
        }
        b.ints("minus1", [1], [-1])
        b.node("Concat", ["u", "minus1"], ["target"], [ModelBuilder.intAttr("axis", 0)])
        b.node("Reshape", ["x", "target"], ["y"], name: "reshape")
        b.output("y")
        return b
    }

    func testShapeSubgraphFoldsToConstantReshapeTargetAfterFixingInputShape() throws {
        for opset: Int64 in [11, 13, 17] {
            var g = try torchFlatten(opset: opset).read().graph
            // Without the input size only the shape-independent part folds; Shape of x stays.
            var loadTime = g
            try Passes.foldConstants(&loadTime)
            XCTAssertEqual(loadTime.nodes.map(\.opType), ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"])
            let shapes = try Passes.foldConstants(&g, inputShapes: ["x": [5, 3, 4, 4]])
            XCTAssertEqual(g.nodes.map(\.opType), ["Reshape"], "opset \(opset)")
            XCTAssertEqual(g.constants["target"]?.ints, [5, -1])
            XCTAssertEqual(g.constants["target"]?.shape, [2])
            XCTAssertEqual(shapes["s"], [4])
            Passes.eliminateDeadNodes(&g)
            XCTAssertNil(g.constants["s"], "intermediate shape constants are dropped")
            XCTAssertNotNil(g.constants["target"])
        }
    }

    func testIfWithConstantConditionInlinesTheTakenBranch() throws {
        func branch(_ name: String, value: [Int64]) -> Onnx_GraphProto {
            var sub = ModelBuilder()
            var t = Onnx_TensorProto()
            t.dataType = 7; t.dims = [Int64(value.count)]; t.int64Data = value
            sub.node("Constant", [], ["\(name)_c"], [ModelBuilder.tensorAttr("value", t)])
            sub.node("Identity", ["\(name)_c"], ["\(name)_out"])
            sub.output("\(name)_out")
            return sub.graph
        }
        var b = ModelBuilder()
        b.input("x", [nil, 48])
        b.node("Shape", ["x"], ["s"])
        b.ints("zero", [1], [0])
        b.node("Gather", ["s", "zero"], ["n"], [ModelBuilder.intAttr("axis", 0)])
        b.ints("one", [1], [1])
        b.node("Equal", ["n", "one"], ["isOne"])
        b.node("If", ["isOne"], ["target"], name: "choose",
               [ModelBuilder.graphAttr("then_branch", branch("then", value: [1, 6, 8])),
                ModelBuilder.graphAttr("else_branch", branch("else", value: [-1, 48]))])
        b.node("Reshape", ["x", "target"], ["y"])
        b.output("y")
        let model = try b.read()
        for (batch, expected) in [(1, [1, 6, 8]), (3, [-1, 48])] {
            var g = model.graph
            try Passes.foldConstants(&g, inputShapes: ["x": [batch, 48]])
            XCTAssertEqual(g.nodes.map(\.opType), ["Reshape"])
            XCTAssertEqual(g.constants["target"]?.ints, expected)
        }
    }

    func testIdentityAndDropoutRemovalKeepsGraphOutputNames() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["a"])
        b.node("Identity", ["a"], ["b"])
        b.node("Dropout", ["b"], ["c", ""])
        b.node("Neg", ["c"], ["d"])
        b.node("Identity", ["d"], ["out"])
        b.output("out")
        var g = try b.read().graph
        Passes.removeIdentities(&g)
        XCTAssertEqual(g.nodes.map(\.opType), ["Relu", "Neg"])
        XCTAssertEqual(g.nodes[1].inputs, ["a"])
        XCTAssertEqual(g.nodes[1].outputs, ["out"])
        XCTAssertEqual(g.outputs.map(\.name), ["out"])
    }

    func testDeadNodeEliminationKeepsOnlyWhatIsRequested() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.floats("k", [1], [2])
        b.floats("unused", [1], [3])
        b.node("Relu", ["x"], ["a"])
        b.node("Mul", ["a", "k"], ["b"])
        b.node("Neg", ["x"], ["side"])
        b.output("b")
        b.output("side")
        var g = try b.read().graph
        Passes.eliminateDeadNodes(&g, keeping: ["a"])
        XCTAssertEqual(g.nodes.map(\.outputs), [["a"]])
        XCTAssertTrue(g.constants.isEmpty)
        var h = try b.read().graph
        Passes.eliminateDeadNodes(&h)
        XCTAssertEqual(h.nodes.count, 3)
        XCTAssertEqual(Set(h.constants.keys), ["k"])
    }

    func testBatchNormFoldsIntoConvWhenTheConvFeedsOnlyTheBN() throws {
        // 1×1 conv (3 → 2 channels) + BN, checked against y = BN(W·x + b) computed directly.
        var b = ModelBuilder()
        b.input("x", [1, 3, 1, 1])
        let w: [Float] = [0.5, -1, 2, 1.5, 0.25, -0.75]
        b.floats("w", [2, 3, 1, 1], w)
        b.floats("b", [2], [0.1, -0.2])
        b.floats("gamma", [2], [1.5, 0.5])
        b.floats("beta", [2], [0.3, -0.4])
        b.floats("mean", [2], [0.2, -1])
        b.floats("var", [2], [4, 0.25])
        b.node("Conv", ["x", "w", "b"], ["c"], name: "conv")
        b.node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], name: "bn",
               [ModelBuilder.floatAttr("epsilon", 1e-3)])
        b.node("Relu", ["c"], ["side"], name: "side")
        b.output("y")
        var shared = try b.read().graph
        XCTAssertEqual(Passes.foldBatchNorm(&shared), 0, "the conv output also feeds another node")
        b.nodes.removeLast()
        var g = try b.read().graph
        XCTAssertEqual(Passes.foldBatchNorm(&g), 1)
        XCTAssertEqual(g.nodes.map(\.opType), ["Conv"])
        XCTAssertEqual(g.nodes[0].outputs, ["y"])
        let fw = g.constants[g.nodes[0].inputs[1]]!.floats, fb = g.constants[g.nodes[0].inputs[2]]!.floats
        XCTAssertNil(g.constants["gamma"])
        let x: [Float] = [0.7, -1.3, 2.1]
        let gamma: [Float] = [1.5, 0.5], beta: [Float] = [0.3, -0.4], mean: [Float] = [0.2, -1], variance: [Float] = [4, 0.25]
        for m in 0..<2 {
            let conv = (0..<3).map { w[m * 3 + $0] * x[$0] }.reduce(0, +) + [0.1, -0.2][m]
            let expected = (conv - mean[m]) / (variance[m] + 1e-3).squareRoot() * gamma[m] + beta[m]
            let folded = (0..<3).map { fw[m * 3 + $0] * x[$0] }.reduce(0, +) + fb[m]
            XCTAssertEqual(folded, expected, accuracy: 1e-5)
        }
    }

    // MARK: - The evaluator, op by op

    func eval(_ op: String, _ inputs: [Constant?], opset: Int = 13, _ attributes: [String: Attribute] = [:]) throws -> Constant {
        let node = Node(name: op, opType: op, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "in\($0)" },
                        outputs: ["out"], attributes: attributes, opset: opset)
        guard let out = try ConstantEvaluator.evaluate(node, inputs: inputs)?.first else {
            throw XCTSkip("\(op) not evaluated")
        }
        return out
    }

    func testEvaluatorOps() throws {
        let v = Constant(shape: [2, 3], ints: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try eval("Gather", [v, Constant(shape: [2], ints: [-1, 0])], ["axis": .int(1)]).ints, [3, 1, 6, 4])
        XCTAssertEqual(try eval("Gather", [v, Constant(shape: [2], ints: [-1, 0])], ["axis": .int(1)]).shape, [2, 2])
        let s = try eval("Slice", [Constant(ints: [0, 1, 2, 3, 4, 5, 6]), Constant(ints: [-2]), Constant(ints: [Int.min]),
                                   Constant(ints: [0]), Constant(ints: [-2])])
        XCTAssertEqual(s.ints, [5, 3, 1])
        // A negative step clamps the start to [0, d − 1] (ONNX), as the runtime Slice layer does: element 0 remains.
        let back = try eval("Slice", [Constant(ints: [0, 1, 2, 3, 4, 5, 6]), Constant(ints: [-20]), Constant(ints: [-30]),
                                      Constant(ints: [0]), Constant(ints: [-1])])
        XCTAssertEqual(back.ints, [0])
        XCTAssertEqual(Slice(starts: [-20], ends: [-30], steps: [-1]).forward([Tensor(shape: [7], values: (0..<7).map(Float.init))])
                        .toArray(), [0])
        XCTAssertEqual(try eval("Slice", [v], opset: 9, ["starts": .ints([1]), "ends": .ints([100]), "axes": .ints([1])]).ints,
                       [2, 3, 5, 6])
        XCTAssertEqual(try eval("Squeeze", [Constant(shape: [1, 3, 1], ints: [7, 8, 9])]).shape, [3])
        XCTAssertEqual(try eval("Squeeze", [Constant(shape: [1, 3, 1], ints: [7, 8, 9]), Constant(ints: [-1])]).shape, [1, 3])
        XCTAssertEqual(try eval("Squeeze", [Constant(shape: [1, 3, 1], ints: [7, 8, 9])], opset: 11, ["axes": .ints([0])]).shape,
                       [3, 1])
        XCTAssertEqual(try eval("Unsqueeze", [Constant(shape: [3], ints: [7, 8, 9]), Constant(ints: [0, -1])]).shape, [1, 3, 1])
        let cos = try eval("ConstantOfShape", [Constant(ints: [2, 2])], ["value": .tensor(Constant(shape: [1], ints: [7]))])
        XCTAssertEqual(cos.ints, [7, 7, 7, 7])
        XCTAssertEqual(try eval("ConstantOfShape", [Constant(ints: [3])]).floats, [0, 0, 0])
        let eq = try eval("Equal", [Constant(ints: [1, 2, 3]), Constant(shape: [], ints: [2])])
        XCTAssertEqual(eq.ints, [0, 1, 0])
        XCTAssertEqual(try eval("Not", [eq]).ints, [1, 0, 1])
        XCTAssertEqual(try eval("Where", [eq, Constant(ints: [10, 20, 30]), Constant(shape: [], ints: [-1])]).ints, [-1, 20, -1])
        XCTAssertEqual(try eval("Less", [Constant(shape: [2], floats: [1, 5]), Constant(shape: [], floats: [2])]).ints, [1, 0])
        XCTAssertEqual(try eval("Cast", [Constant(shape: [3], floats: [1.7, -1.7, 0])], ["to": .int(7)]).ints, [1, -1, 0])
        XCTAssertEqual(try eval("Cast", [Constant(shape: [2], ints: [3, 0])], ["to": .int(1)]).floats, [3, 0])
        XCTAssertEqual(try eval("Cast", [Constant(shape: [2], ints: [3, 0])], ["to": .int(9)]).ints, [1, 0])
        XCTAssertEqual(try eval("Range", [Constant(shape: [], ints: [10]), Constant(shape: [], ints: [1]),
                                          Constant(shape: [], ints: [-3])]).ints, [10, 7, 4])
        XCTAssertEqual(try eval("Range", [Constant(shape: [], floats: [0]), Constant(shape: [], floats: [1]),
                                          Constant(shape: [], floats: [0.25])]).floats, [0, 0.25, 0.5, 0.75])
        XCTAssertEqual(try eval("Div", [Constant(ints: [7, -7]), Constant(shape: [], ints: [2])]).ints, [3, -3])
        XCTAssertEqual(try eval("Mod", [Constant(ints: [7, -7]), Constant(shape: [], ints: [3])]).ints, [1, 2])
        XCTAssertEqual(try eval("Mul", [Constant(shape: [2, 1], floats: [1, 2]), Constant(shape: [3], floats: [1, 10, 100])]).floats,
                       [1, 10, 100, 2, 20, 200])
        XCTAssertEqual(try eval("ReduceProd", [v], ["axes": .ints([1]), "keepdims": .int(0)]).ints, [6, 120])
        XCTAssertEqual(try eval("ReduceSum", [v, Constant(ints: [0])]).ints, [5, 7, 9])
        XCTAssertEqual(try eval("ReduceSum", [v, Constant(ints: [0])]).shape, [1, 3])
        let t = try eval("Transpose", [v], ["perm": .ints([1, 0])])
        XCTAssertEqual(t.ints, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(t.shape, [3, 2])
        XCTAssertEqual(try eval("Reshape", [v, Constant(ints: [0, -1, 1])]).shape, [2, 3, 1])
        XCTAssertEqual(try eval("Flatten", [Constant(shape: [2, 3, 4], ints: Array(0..<24))], ["axis": .int(2)]).shape, [6, 4])
        XCTAssertEqual(try eval("Concat", [Constant(ints: [1]), Constant(ints: [2, 3])], ["axis": .int(-1)]).ints, [1, 2, 3])
        XCTAssertEqual(try eval("Expand", [Constant(shape: [2, 1], ints: [1, 2]), Constant(ints: [2, 3])]).ints, [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(try eval("Tile", [Constant(ints: [1, 2]), Constant(ints: [2])]).ints, [1, 2, 1, 2])
        XCTAssertEqual(try eval("Shape", [v], opset: 15, ["start": .int(-1)]).ints, [3])
        XCTAssertEqual(try eval("Size", [v]).ints, [6])
        XCTAssertEqual(try eval("Constant", [], ["value_ints": .ints([4, 5])]).ints, [4, 5])
        XCTAssertEqual(try eval("Max", [Constant(ints: [1, 9]), Constant(ints: [5, 2]), Constant(ints: [3, 3])]).ints, [5, 9])
    }

    func testEvaluatorRejectsBadInputs() {
        XCTAssertThrowsError(try eval("Gather", [Constant(ints: [1, 2]), Constant(shape: [], ints: [2])]))
        XCTAssertThrowsError(try eval("Reshape", [Constant(ints: [1, 2, 3]), Constant(ints: [2, -1])]))
        XCTAssertThrowsError(try eval("Div", [Constant(ints: [1]), Constant(ints: [0])]))
        XCTAssertThrowsError(try eval("Squeeze", [Constant(shape: [2], ints: [1, 2]), Constant(ints: [0])]))
        XCTAssertThrowsError(try eval("ConstantOfShape", [Constant(ints: [1 << 30, 1 << 30])])) { error in
            guard case .sizeOverflow = error as? ModelError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try eval("Add", [Constant(ints: [1, 2]), Constant(ints: [1, 2, 3])]))
    }
}
