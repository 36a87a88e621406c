/// Receptive fields read off the planned graph against the pixels that actually move a layer cell: every input
/// pixel is pushed by ±1000 (a finite difference large enough to win a max pool), and the bounding box of the
/// pixels that change the cell must be the field's box, for every cell of two layers of a tiny net with
/// explicit Pad, strided, dilated and SAME-padded convolutions, an end-padded max pool, a residual Add and an
/// average pool.
import AtlasCore
import AtlasNet
import AtlasTestSupport
import XCTest

final class ReceptiveFieldTests: XCTestCase {
    static func node(_ op: String, _ inputs: [String], _ y: String, _ attributes: [String: Attribute] = [:]) -> Node {
        Node(name: "\(op.lowercased())_\(y)", opType: op, inputs: inputs, outputs: [y], attributes: attributes, opset: 13)
    }

    /// x[N,1,19,17] → Pad(top 1, left 2, bottom 0, right 1) → Conv 3×3 s2 (2 ch) → Tanh → MaxPool 2×2 s1 (end pads 1)
    /// → {Conv 3×3 dilation 2 SAME_UPPER, Conv 1×1} → Add = "res" → AveragePool 3×3 s2 pad 1 = "avg"; "gap" global.
    static func net() throws -> Network {
        let g = Graph(nodes: [
            node("Pad", ["x", "pads"], "p"),
            node("Conv", ["p", "w1", "b1"], "c1", ["strides": .ints([2, 2]), "kernel_shape": .ints([3, 3])]),
            node("Tanh", ["c1"], "t1"),
            node("MaxPool", ["t1"], "m", ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1]), "pads": .ints([0, 0, 1, 1])]),
            node("Conv", ["m", "w2", "b2"], "c2", ["dilations": .ints([2, 2]), "auto_pad": .string("SAME_UPPER")]),
            node("Conv", ["m", "w3", "b3"], "c3"),
            node("Add", ["c2", "c3"], "res"),
            node("AveragePool", ["res"], "avg", ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            node("GlobalAveragePool", ["res"], "gap"),
        ], inputs: [ValueInfo(name: "x", shape: [.symbolic("N"), .fixed(1), .fixed(19), .fixed(17)])],
           outputs: [ValueInfo(name: "avg"), ValueInfo(name: "gap")],
           constants: ["pads": Constant(ints: [0, 0, 1, 2, 0, 0, 0, 1]),
                       "w1": Constant(TestData.uniform([2, 1, 3, 3], in: 0.2...0.6, seed: 1)), "b1": Constant(TestData.uniform([2], seed: 2)),
                       "w2": Constant(TestData.uniform([2, 2, 3, 3], in: 0.2...0.6, seed: 3)), "b2": Constant(TestData.uniform([2], seed: 4)),
                       "w3": Constant(TestData.uniform([2, 2, 1, 1], in: 0.2...0.6, seed: 5)), "b3": Constant(TestData.uniform([2], seed: 6))])
        return try Network(model: Model(graph: g))
    }

    func testFieldsMatchThePixelsThatMoveEachCell() throws {
        let network = try Self.net()
        let (h, w) = (19, 17)
        let plan = try network.plan(for: [1, 1, h, w])
        let base = TestData.uniform([1, 1, h, w], in: -0.5...0.5, seed: 9)
        // Item 0: the base image; item 1 + 2p (+ 1): pixel p pushed up (down) by 1000.
        let batch = Tensor(zeros: [1 + 2 * h * w, 1, h, w])
        for i in 0..<batch.shape[0] {
            (batch.data + i * h * w).update(from: base.data, count: h * w)
            if i > 0 { batch.data[i * h * w + (i - 1) / 2] += (i % 2 == 1 ? 1000 : -1000) }
        }
        let out = try network.forward(batch, capture: ["res", "avg", "gap"])
        var checked = 0
        for value in ["res", "avg"] {
            let field = try plan.receptiveField(of: value)
            XCTAssertFalse(field.global, value)
            let y = out[value]!, (c, oh, ow) = (y.shape[1], y.shape[2], y.shape[3])
            let stride = c * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var box: [Int]? = nil
                    for p in 0..<(h * w) {
                        let moved = (0..<c).contains { ch in
                            let at = ch * oh * ow + oy * ow + ox
                            return [1 + 2 * p, 2 + 2 * p].contains { abs(y.data[$0 * stride + at] - y.data[at]) > 1e-5 }
                        }
                        guard moved else { continue }
                        let (px, py) = (p % w, p / w)
                        box = box.map { [min($0[0], px), min($0[1], py), max($0[2], px), max($0[3], py)] } ?? [px, py, px, py]
                    }
                    XCTAssertEqual(field.box(x: ox, y: oy, width: w, height: h), box, "\(value) cell (\(ox), \(oy))")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 40)
        XCTAssertTrue(try plan.receptiveField(of: "gap").global)
        XCTAssertEqual(try plan.receptiveField(of: "gap").box(x: 0, y: 0, width: w, height: h), [0, 0, w - 1, h - 1])
        XCTAssertEqual(try plan.receptiveField(of: "x"), .input(height: h, width: w))
        XCTAssertThrowsError(try plan.receptiveField(of: "nothing"))
    }
}
