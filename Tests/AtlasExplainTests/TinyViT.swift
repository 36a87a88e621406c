import AtlasCore
import AtlasNet
import AtlasTestSupport
import Foundation

/// A two-block vision transformer built in the graph IR, whose attention is known in closed form and whose class
/// logit reads one patch. Input x[N, 1, 16, 16], patches 4×4 → 16 tokens (row-major) plus a class token (token 0).
/// Features (4): 0 = content (the patch mean), 1 = "is the class token", 2 = "is patch 5" (token 6), 3 = a seeded
/// random position code; the position embedding `pos` writes 1–3, the patch embedding only 0.
/// Block b: q = z·Wq_b, k = z·Wk, v = z·Wv, A = softmax(q·kᵀ) (one head, scale 1), z ← z + (A·v)·Wo. Wq, Wk read only
/// the position features and Wv, Wo move only content, so A_b = softmax((P·Wq_b)(P·Wk)ᵀ) for every image: the class
/// token's query is `a_b`·feature 2, so it attends to patch 5 (a₀ = 8, a₁ = 4); patch queries are feature 3.
/// Logits: class 0 = 10·(class token's content), class 1 = −10·that, then Softmax. Values are named like an
/// exporter's (`/embed/…`, `/block0/…`), so the aliases `embed`, `block0`, `block1` name token-grid views.
enum TinyViT {
    static let tokens = 17, features = 4, strongPatch = 5
    static let queryGain: [Float] = [8, 4], codeGain: [Float] = [1, 2]

    /// The position embedding [17, 4] (features 1–3).
    static var positions: [[Float]] {
        let codes = TestData.uniform([tokens], in: -0.5...0.5, seed: 41).toArray()
        return (0..<tokens).map { t in [0, t == 0 ? 1 : 0, t == strongPatch + 1 ? 1 : 0, t == 0 ? 0 : codes[t]] }
    }

    /// Wq of block b, [4, 4] row-major (input feature × output feature).
    static func queryWeights(_ b: Int) -> [Float] {
        var w = [Float](repeating: 0, count: 16)
        w[1 * 4 + 2] = queryGain[b]
        w[3 * 4 + 3] = codeGain[b]
        return w
    }

    /// The attention of block b in closed form, [17][17], in double precision.
    static func attention(_ b: Int) -> [[Double]] {
        let p = positions, wq = queryWeights(b)
        return (0..<tokens).map { i in
            let q = (0..<4).map { o in (0..<4).reduce(0.0) { $0 + Double(p[i][$1]) * Double(wq[$1 * 4 + o]) } }
            let s = (0..<tokens).map { j in (1..<4).reduce(0.0) { $0 + q[$1] * Double(p[j][$1]) } }
            let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            return e.map { $0 / z }
        }
    }

    static func network() throws -> Network {
        func f(_ shape: [Int], _ v: [Float]) -> Constant { Constant(shape: shape, floats: v) }
        func i(_ v: [Int]) -> Constant { Constant(ints: v) }
        var nodes: [Node] = []
        func node(_ op: String, _ inputs: [String], _ y: String, _ attributes: [String: Attribute] = [:]) {
            nodes.append(Node(name: y.replacingOccurrences(of: "_output_0", with: ""), opType: op, inputs: inputs, outputs: [y],
                              attributes: attributes, opset: 13))
        }
        var constants: [String: Constant] = [
            "patch_w": f([4, 1, 4, 4], [Float](repeating: 1 / 16, count: 16) + [Float](repeating: 0, count: 48)),
            "patch_b": f([4], [0, 0, 0, 0]),
            "grid_shape": i([0, 4, 16]), "zero": f([1], [0]), "s0": i([0]), "s1": i([1]), "ax1": i([1]),
            "pos": f([1, tokens, 4], positions.flatMap { $0 }),
            "heads_shape": i([0, 1, tokens, 4]), "tokens_shape": i([0, tokens, 4]), "flat_shape": i([-1, 4]),
            "wk": f([4, 4], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]),
            "wv": f([4, 4], [1] + [Float](repeating: 0, count: 15)),
            "head_w": f([2, 4], [10, 0, 0, 0, -10, 0, 0, 0]), "head_b": f([2], [0, 0]),
        ]
        node("Conv", ["x", "patch_w", "patch_b"], "/patch/Conv_output_0", ["strides": .ints([4, 4]), "kernel_shape": .ints([4, 4])])
        node("Reshape", ["/patch/Conv_output_0", "grid_shape"], "/patch/Reshape_output_0")
        node("Transpose", ["/patch/Reshape_output_0"], "/patch/Transpose_output_0", ["perm": .ints([0, 2, 1])])
        node("Slice", ["/patch/Transpose_output_0", "s0", "s1", "ax1"], "/embed/Slice_output_0")
        node("Mul", ["/embed/Slice_output_0", "zero"], "/embed/Mul_output_0")
        node("Concat", ["/embed/Mul_output_0", "/patch/Transpose_output_0"], "/embed/Concat_output_0", ["axis": .int(1)])
        node("Add", ["/embed/Concat_output_0", "pos"], "/embed/Add_output_0")
        var z = "/embed/Add_output_0"
        for b in 0..<2 {
            let p = "/block\(b)/"
            constants["wq\(b)"] = f([4, 4], queryWeights(b))
            node("MatMul", [z, "wq\(b)"], p + "q/MatMul_output_0")
            node("MatMul", [z, "wk"], p + "k/MatMul_output_0")
            node("MatMul", [z, "wv"], p + "v/MatMul_output_0")
            node("Reshape", [p + "q/MatMul_output_0", "heads_shape"], p + "Reshape_output_0")
            node("Reshape", [p + "k/MatMul_output_0", "heads_shape"], p + "Reshape_1_output_0")
            node("Reshape", [p + "v/MatMul_output_0", "heads_shape"], p + "Reshape_2_output_0")
            node("Transpose", [p + "Reshape_1_output_0"], p + "Transpose_output_0", ["perm": .ints([0, 1, 3, 2])])
            node("MatMul", [p + "Reshape_output_0", p + "Transpose_output_0"], p + "MatMul_output_0")
            node("Softmax", [p + "MatMul_output_0"], p + "Softmax_output_0", ["axis": .int(-1)])
            node("MatMul", [p + "Softmax_output_0", p + "Reshape_2_output_0"], p + "MatMul_1_output_0")
            node("Reshape", [p + "MatMul_1_output_0", "tokens_shape"], p + "Reshape_3_output_0")
            node("MatMul", [p + "Reshape_3_output_0", "wv"], p + "out/MatMul_output_0")
            node("Add", [z, p + "out/MatMul_output_0"], p + "Add_output_0")
            z = p + "Add_output_0"
        }
        node("Slice", [z, "s0", "s1", "ax1"], "/head/Slice_output_0")
        node("Reshape", ["/head/Slice_output_0", "flat_shape"], "/head/Reshape_output_0")
        node("Gemm", ["/head/Reshape_output_0", "head_w", "head_b"], "logits", ["transB": .int(1)])
        node("Softmax", ["logits"], "prob", ["axis": .int(1)])
        let g = Graph(nodes: nodes, inputs: [TinyNets.input(1, 16, 16)], outputs: [ValueInfo(name: "prob")], constants: constants)
        return try Network(model: Model(graph: g))
    }

    /// Images with a bright 4×4 square on patch `patch` of each (row-major), 0.1 elsewhere.
    static func images(brightPatches: [Int]) -> Tensor {
        let x = Tensor(shape: [brightPatches.count, 1, 16, 16], repeating: 0.1)
        for (n, p) in brightPatches.enumerated() {
            for y in 0..<4 { for xx in 0..<4 { x.data[n * 256 + (p / 4 * 4 + y) * 16 + p % 4 * 4 + xx] = 1 } }
        }
        return x
    }
}
