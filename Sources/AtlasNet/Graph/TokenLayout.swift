import AtlasCore

/// Token layouts. Transformers keep features on the last axis: ViT's blocks give [batch, tokens, channels], Swin's
/// stages [batch, H, W, channels], ConvNeXt's block internals [batch, H, W, channels]. Everything that reads
/// "channels" and "positions" (channel objectives, galleries, `collect`, `map`, attribution) expects
/// [batch, channels, H, W]. So for each layer alias whose value is channel-last, the network gets a view node
/// (`ai.atlas.TokenGrid`) and the alias names the view: [B, T, C] becomes [B, C, h, w] over the patch grid (a single
/// leading class token dropped when T − 1 is a square and T is not; [B, C, T, 1] when no grid fits), [B, H, W, C]
/// becomes [B, C, H, W]. The ONNX value name still gives the raw value, class token included.
///
/// Each such value also gets a class-token view (`ai.atlas.TokenClass`), named by the suffix `::cls` after the alias
/// or the value name: [B, T, C] with a leading class token becomes [B, C, 1, 1], the class token's features as one
/// position. A value without a class token (a [B, H, W, C] Swin stage, a [B, T, C] whose T is a square grid) cannot
/// be computed as that view (`ModelError.noClassToken`), and listings leave it out.
///
/// Channel-last is decided from the graph's structure, not from shapes: a value read by a LayerNormalization over its
/// last axis or by a MatMul with a constant 2-D weight (a Linear), or produced by one, or by an elementwise op whose
/// runtime inputs are all channel-last (with per-feature constants). Views of values whose rank is not 3 or 4 are the
/// identity.
public enum TokenLayout {
    /// The op type of the view nodes (domain `Passes.atlasDomain`).
    public static let viewOp = "TokenGrid"
    /// The name of the view of value `v`.
    public static func viewName(_ v: String) -> String { "\(v)::grid" }
    /// The op type of the class-token views (domain `Passes.atlasDomain`).
    public static let classOp = "TokenClass"
    /// The suffix that names a layer's class-token view (`encoder.layers.encoder_layer_11::cls`).
    public static let classSuffix = "::cls"
    /// The name of the class-token view of value `v`.
    public static func className(_ v: String) -> String { v + classSuffix }

    /// Whether `node` is one of the views this type adds (a token grid or a class token).
    public static func isView(_ node: Node) -> Bool {
        node.domain == Passes.atlasDomain && (node.opType == viewOp || node.opType == classOp)
    }

    static let elementwise: Set<String> = ["Add", "Sub", "Mul", "Div", "Gelu", "Erf", "Relu", "Sigmoid", "Tanh", "Clip",
                                           "SiLU", "HardSwish", "Identity", "Dropout"]

    /// The node outputs whose last axis holds the features.
    public static func channelLastValues(_ graph: Graph) -> Set<String> {
        var last = Set<String>()
        for n in graph.nodes {
            guard let y = n.outputs.first, !y.isEmpty else { continue }
            if isLinear(n, in: graph) || normalizesLast(n) {
                last.insert(y)
                if let x = n.input(0), graph.constants[x] == nil { last.insert(x) }
            } else if elementwise.contains(n.opType) {
                let runtime = n.inputs.filter { !$0.isEmpty && graph.constants[$0] == nil }
                let perFeature = n.inputs.allSatisfy { $0.isEmpty || (graph.constants[$0]?.shape.filter { $0 > 1 }.count ?? 0) <= 1 }
                if !runtime.isEmpty, perFeature, runtime.allSatisfy(last.contains) { last.insert(y) }
            }
        }
        return last
    }

    /// Whether `n` is a Linear over the last axis: a MatMul by a constant 2-D weight, plain or with the bias the
    /// `matmul-bias` pass folded into it.
    public static func isLinear(_ n: Node, in graph: Graph) -> Bool {
        (n.isOp("MatMul") || n.opType == Passes.matMulBiasOp && n.domain == Passes.atlasDomain) && n.inputs.count >= 2
            && graph.constants[n.inputs[1]]?.shape.count == 2
    }

    /// Whether `n` is a LayerNormalization over the last axis (it changes each token's features, not where it is).
    public static func normalizesLast(_ n: Node) -> Bool {
        n.opType == "LayerNormalization" && n.domain.isEmpty && (try? n.int("axis", default: -1)) == -1
    }

    /// Adds a grid view and a class-token view, right after its producer, for each of `values` that is channel-last;
    /// returns value → grid view and value → class-token view.
    static func addViews(_ graph: inout Graph, for values: Set<String>) -> (grids: [String: String], classes: [String: String]) {
        let last = channelLastValues(graph)
        var grids: [String: String] = [:], classes: [String: String] = [:]
        var nodes: [Node] = []
        for n in graph.nodes {
            nodes.append(n)
            for v in n.outputs where values.contains(v) && last.contains(v) {
                let grid = viewName(v), cls = className(v)
                nodes.append(Node(name: grid, opType: viewOp, domain: Passes.atlasDomain, inputs: [v], outputs: [grid], opset: 1))
                nodes.append(Node(name: cls, opType: classOp, domain: Passes.atlasDomain, inputs: [v], outputs: [cls], opset: 1))
                grids[v] = grid
                classes[v] = cls
            }
        }
        graph.nodes = nodes
        return (grids, classes)
    }

    /// The patch grid of `tokens` tokens: (leading tokens to drop, h, w), nil when neither T nor T − 1 is a square.
    public static func grid(tokens t: Int) -> (skip: Int, h: Int, w: Int)? {
        for skip in [0, 1] where t - skip > 0 {
            let r = Int(Double(t - skip).squareRoot().rounded())
            if r * r == t - skip { return (skip, r, r) }
        }
        return nil
    }
}

extension Lowering {
    /// A TokenGrid view: [B, T, C] → Transpose → [B, C, T] (→ Slice off a class token) → Reshape [B, C, h, w];
    /// [B, H, W, C] → Transpose → [B, C, H, W]; other ranks → Identity.
    static func lowerTokenGrid(_ node: Node, inputShape: [Int]?) throws -> [Step] {
        guard let x = node.input(0), let y = node.outputs.first, let s = inputShape else {
            throw ModelError.shape(node: node.name, op: node.opType, reason: "shape of the viewed value is unknown")
        }
        func step(_ layer: Layer, _ input: String, _ output: String) -> Step {
            Step(layer: layer, node: node.name, op: node.opType, inputs: [input], output: output)
        }
        switch s.count {
        case 4: return [step(Transpose(perm: [0, 3, 1, 2]), x, y)]
        case 3:
            let (b, t, c) = (s[0], s[1], s[2])
            let t1 = "\(node.name)::t"
            var steps = [step(Transpose(perm: [0, 2, 1]), x, t1)]
            guard let g = TokenLayout.grid(tokens: t) else {
                return steps + [step(Reshape(shape: [b, c, t, 1], allowZero: true), t1, y)]
            }
            var from = t1
            if g.skip > 0 {
                from = "\(node.name)::patches"
                steps.append(step(Slice(starts: [g.skip], ends: [t], axes: [2], steps: [1]), t1, from))
            }
            return steps + [step(Reshape(shape: [b, c, g.h, g.w], allowZero: true), from, y)]
        default: return [step(Identity(), x, y)]
        }
    }

    /// A TokenClass view: [B, T, C] with a leading class token → Slice token 0 → [B, 1, C] → Reshape [B, C, 1, 1]
    /// (the same entries in the same order). Throws `ModelError.noClassToken` for every other shape.
    static func lowerTokenClass(_ node: Node, inputShape: [Int]?) throws -> [Step] {
        guard let x = node.input(0), let y = node.outputs.first, let s = inputShape else {
            throw ModelError.shape(node: node.name, op: node.opType, reason: "shape of the viewed value is unknown")
        }
        let layer = String(node.name.dropLast(TokenLayout.classSuffix.count))
        switch s.count {
        case 3 where TokenLayout.grid(tokens: s[1])?.skip == 1:
            let token = "\(node.name)::token"
            return [Step(layer: Slice(starts: [0], ends: [1], axes: [1], steps: [1]), node: node.name, op: node.opType, inputs: [x], output: token),
                    Step(layer: Reshape(shape: [s[0], s[2], 1, 1], allowZero: true), node: node.name, op: node.opType, inputs: [token], output: y)]
        case 3:
            let grid = TokenLayout.grid(tokens: s[1]).map { "a \($0.h)×\($0.w) patch grid" } ?? "not a class token and a square patch grid"
            throw ModelError.noClassToken(layer: layer, reason: "its \(s[1]) tokens are \(grid)")
        case 4:
            throw ModelError.noClassToken(layer: layer, reason: "it is a [batch, H, W, channels] grid \(s) (Swin, ConvNeXt), without tokens in a row")
        default:
            throw ModelError.noClassToken(layer: layer, reason: "its shape \(s) is not [batch, tokens, channels]")
        }
    }
}
