import AtlasCore

extension Passes {
    /// The `ai.atlas` op of a MatMul with its bias folded in: inputs [A, B, bias].
    public static let matMulBiasOp = "MatMulBias"

    /// `matmul-bias`: `Add(MatMul(A, B), b)` with b a constant over the last axis ([N] or [1, …, N], what a Linear
    /// exports on 3-D tokens) becomes one MatMul whose GEMM adds b to each block while it is in cache, bit-identical
    /// (the same single rounding of product + b) and with the same input gradient.
    static func fuseMatMulBias(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var dead = Set<Int>()
        for (i, n) in graph.nodes.enumerated() where n.isOp("Add") && n.inputs.count == 2 {
            for (product, bias) in [(n.inputs[0], n.inputs[1]), (n.inputs[1], n.inputs[0])] {
                guard let p = index.soleProducer(of: product), !dead.contains(p), graph.nodes[p].isOp("MatMul"),
                      graph.nodes[p].inputs.count == 2, let b = graph.constants[bias],
                      let shape = state.shapes[product], let last = shape.last, shape.count >= 2,
                      b.count == last, b.shape.count <= shape.count, b.shape.dropLast().allSatisfy({ $0 == 1 }) else { continue }
                let mm = graph.nodes[p]
                graph.nodes[i] = Node(name: mm.name, opType: matMulBiasOp, domain: atlasDomain,
                                      inputs: mm.inputs + [bias], outputs: n.outputs, opset: n.opset)
                dead.insert(p)
                state.removed[product] = "matmul-bias"
                break
            }
        }
        graph.removeNodes(dead)
        return dead.count
    }
}
