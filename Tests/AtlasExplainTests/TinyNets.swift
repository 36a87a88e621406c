import AtlasCore
import AtlasNet
import AtlasTestSupport

/// Small networks built directly in the graph IR, whose answers the tests know.
enum TinyNets {
    static func conv(_ x: String, _ w: String, _ b: String, _ y: String, pad: Int) -> Node {
        Node(name: "conv_\(y)", opType: "Conv", inputs: [x, w, b], outputs: [y],
             attributes: ["pads": .ints([pad, pad, pad, pad]), "strides": .ints([1, 1])], opset: 13)
    }

    static func node(_ op: String, _ inputs: [String], _ y: String, _ attributes: [String: Attribute] = [:]) -> Node {
        Node(name: "\(op.lowercased())_\(y)", opType: op, inputs: inputs, outputs: [y], attributes: attributes, opset: 13)
    }

    static func input(_ c: Int, _ h: Int, _ w: Int) -> ValueInfo {
        ValueInfo(name: "x", shape: [.symbolic("N"), .fixed(c), .fixed(h), .fixed(w)])
    }

    /// x[N, 3, 5, 5] → Conv(4, 3×3, pad 1) → Tanh → Flatten → Gemm → logits[N, 3]: smooth, random weights.
    static func smooth() throws -> Network {
        let w = TestData.uniform([4, 3, 3, 3], in: -0.5...0.5, seed: 11), b = TestData.uniform([4], seed: 12)
        let fw = TestData.uniform([3, 100], in: -0.3...0.3, seed: 13), fb = TestData.uniform([3], seed: 14)
        let g = Graph(nodes: [conv("x", "w", "b", "c", pad: 1), node("Tanh", ["c"], "t"), node("Flatten", ["t"], "f", ["axis": .int(1)]),
                              node("Gemm", ["f", "fw", "fb"], "logits", ["transB": .int(1)])],
                      inputs: [input(3, 5, 5)], outputs: [ValueInfo(name: "logits")],
                      constants: ["w": Constant(w), "b": Constant(b), "fw": Constant(fw), "fb": Constant(fb)])
        return try Network(model: Model(graph: g))
    }

    /// A bright-square detector: x[N, 1, 16, 16] → Conv(2 channels, 3×3 box, pad 1) → Relu → GlobalAveragePool →
    /// Flatten → Gemm → Softmax. Channel 0 = box mean − 0.5 (bright), channel 1 = 0.5 − box mean (dark); class 0's
    /// logit reads only channel 0 (weight 10), class 1 only channel 1.
    static func squareDetector() throws -> Network {
        let box = [Float](repeating: 1.0 / 9, count: 9)
        let w = Tensor(shape: [2, 1, 3, 3], values: box + box.map { -$0 })
        let g = Graph(nodes: [conv("x", "w", "b", "c", pad: 1), node("Relu", ["c"], "r"), node("GlobalAveragePool", ["r"], "p"),
                              node("Flatten", ["p"], "f", ["axis": .int(1)]), node("Gemm", ["f", "fw", "fb"], "logits", ["transB": .int(1)]),
                              node("Softmax", ["logits"], "prob", ["axis": .int(1)])],
                      inputs: [input(1, 16, 16)], outputs: [ValueInfo(name: "prob")],
                      constants: ["w": Constant(w), "b": Constant(shape: [2], floats: [-0.5, 0.5]),
                                  "fw": Constant(shape: [2, 2], floats: [10, 0, 0, 10]), "fb": Constant(shape: [2], floats: [0, 0])])
        return try Network(model: Model(graph: g))
    }
}
