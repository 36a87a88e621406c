import AtlasCore

extension Passes {
    /// Folds inference BatchNormalization into the Conv before it when the conv's output feeds only the BN
    /// (and is not a graph output) and all weights are constant: W'[m] = W[m]·s[m], b' = (b − mean)·s + β
    /// with s = γ / √(var + ε). The conv then produces the BN's output value. Returns the number folded.
    @discardableResult
    public static func foldBatchNorm(_ graph: inout Graph) -> Int {
        let uses = graph.useCounts
        let producers = graph.producers
        let graphOutputs = Set(graph.outputs.map(\.name))
        var removed = Set<Int>()
        var folded = 0
        for (bi, bn) in graph.nodes.enumerated() where bn.opType == "BatchNormalization" && bn.domain.isEmpty {
            guard let y = bn.input(0), let ci = producers[y], !removed.contains(ci) else { continue }
            let conv = graph.nodes[ci]
            guard conv.opType == "Conv", conv.domain.isEmpty, conv.outputs.count == 1, uses[y] == 1, !graphOutputs.contains(y),
                  bn.outputs.dropFirst().allSatisfy({ $0.isEmpty || uses[$0, default: 0] == 0 }),
                  (try? bn.int("training_mode", default: 0)) == 0,
                  let wName = conv.input(1), let w = graph.constants[wName], w.isFloat, w.shape.count >= 3,
                  bn.inputs.count >= 5, let gamma = graph.constants[bn.inputs[1]], let beta = graph.constants[bn.inputs[2]],
                  let mean = graph.constants[bn.inputs[3]], let variance = graph.constants[bn.inputs[4]] else { continue }
            let m = w.shape[0]
            let bias = conv.input(2).flatMap { graph.constants[$0] }
            if conv.input(2) != nil && bias == nil { continue }
            guard [gamma, beta, mean, variance].allSatisfy({ $0.count == m }), bias.map({ $0.count == m }) ?? true else { continue }
            let eps = (try? bn.float("epsilon", default: 1e-5)) ?? 1e-5
            let g = gamma.floats, be = beta.floats, mu = mean.floats, v = variance.floats
            let b0 = bias?.floats ?? [Float](repeating: 0, count: m)
            let src = w.tensor
            let newW = Tensor(zeros: w.shape)
            let per = w.count / max(m, 1)
            var newB = [Float](repeating: 0, count: m)
            for o in 0..<m {
                // Scale in double precision and round once.
                let s = Double(g[o]) / (Double(v[o]) + Double(eps)).squareRoot()
                for k in 0..<per { newW.data[o * per + k] = Float(Double(src.data[o * per + k]) * s) }
                newB[o] = Float((Double(b0[o]) - Double(mu[o])) * s + Double(be[o]))
            }
            let wOut = "\(conv.name)::bn_folded_weight", bOut = "\(conv.name)::bn_folded_bias"
            graph.constants[wOut] = Constant(newW)
            graph.constants[bOut] = Constant(shape: [m], floats: newB)
            var fused = conv
            fused.inputs = [conv.inputs[0], wOut, bOut]
            fused.outputs = [bn.outputs[0]]
            graph.nodes[ci] = fused
            removed.insert(bi)
            folded += 1
        }
        graph.nodes = graph.nodes.indices.filter { !removed.contains($0) }.map { graph.nodes[$0] }
        // Drop the original weights when nothing reads them any more.
        var read = Set(graph.outputs.map(\.name))
        for n in graph.nodes { read.formUnion(n.allReads) }
        graph.constants = graph.constants.filter { read.contains($0.key) }
        return folded
    }
}
