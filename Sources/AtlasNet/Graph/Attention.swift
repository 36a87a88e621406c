import AtlasCore

/// Attention probabilities found from the graph, and attention rollout (Abnar & Zuidema 2020), for the attention maps
/// of vision transformers. The probabilities of a block are the Softmax output that is the first operand of the
/// product with the values (a MatMul, strided or not, or an Einsum as MaxViT exports it); ViT's are [batch, heads,
/// tokens, tokens].
public enum Attention {
    /// One attention site: the Softmax value holding the probabilities, its node, and the node applying them.
    public struct Site: Sendable, Equatable {
        public let probabilities: String
        public let softmaxNode: String
        public let valueProduct: String
    }

    /// The attention sites of `graph`, in graph order.
    public static func sites(_ graph: Graph) -> [Site] {
        var readers: [String: [Node]] = [:]
        for n in graph.nodes { for i in n.inputs where !i.isEmpty { readers[i, default: []].append(n) } }
        var out: [Site] = []
        for n in graph.nodes where n.isOp("Softmax") {
            guard let p = n.outputs.first,
                  let product = readers[p]?.first(where: { isProduct($0) && $0.inputs.first == p })
            else { continue }
            out.append(Site(probabilities: p, softmaxNode: n.name, valueProduct: product.name))
        }
        return out
    }

    /// A MatMul, an Einsum, or the `attention-strides` pass's strided MatMul.
    static func isProduct(_ n: Node) -> Bool {
        n.isOp("MatMul") || n.isOp("Einsum") || n.opType == Passes.stridedMatMulOp && n.domain == Passes.atlasDomain
    }

    /// Attention rollout over layers of probabilities [B, H, T, T] (first layer first): per layer Â = ½·mean_h(A) + ½·I
    /// with rows renormalized, then R = Â_L ⋯ Â_1, [B, T, T]; R[b, i, j] is how much token j reaches output token i.
    /// Accumulated in double precision in a fixed order.
    public static func rollout(_ layers: [Tensor]) throws -> Tensor {
        guard let first = layers.first, first.rank == 4, first.shape[2] == first.shape[3] else {
            throw ModelError.invalidGraph("attention rollout needs [batch, heads, tokens, tokens] probabilities")
        }
        let (b, t) = (first.shape[0], first.shape[2])
        for l in layers where l.rank != 4 || l.shape[0] != b || l.shape[2] != t || l.shape[3] != t {
            throw ModelError.invalidGraph("attention layers differ in shape: \(first.shape) vs \(l.shape)")
        }
        let out = Tensor(zeros: [b, t, t])
        for image in 0..<b {
            var r = [Double](repeating: 0, count: t * t)
            for i in 0..<t { r[i * t + i] = 1 }
            for l in layers {
                let h = l.shape[1]
                var a = [Double](repeating: 0, count: t * t)
                for head in 0..<h {
                    let base = (image * h + head) * t * t
                    for e in 0..<(t * t) { a[e] += Double(l.data[base + e]) }
                }
                for i in 0..<t {
                    var sum = 0.0
                    for j in 0..<t { a[i * t + j] = 0.5 * a[i * t + j] / Double(h) + (i == j ? 0.5 : 0); sum += a[i * t + j] }
                    for j in 0..<t { a[i * t + j] /= sum }
                }
                var next = [Double](repeating: 0, count: t * t)
                for i in 0..<t { for k in 0..<t where a[i * t + k] != 0 { for j in 0..<t { next[i * t + j] += a[i * t + k] * r[k * t + j] } } }
                r = next
            }
            for e in 0..<(t * t) { out.data[image * t * t + e] = Float(r[e]) }
        }
        return out
    }
}
