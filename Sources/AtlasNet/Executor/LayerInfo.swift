/// One row of a network listing (`atlas inspect`): a value a user can request, with what produces it.
public struct LayerInfo: Sendable {
    /// Short alias from the exporter's module path, when there is an unambiguous one.
    public let alias: String?
    /// The ONNX value name.
    public let value: String
    public let op: String
    public let node: String
    /// Output shape at the planned input size (nil when the node cannot run).
    public let shape: [Int]?
    /// Where the features are (`TokenLayout`): channel-last values are transformer tokens.
    public let layout: Layout
    /// The feature count: dimension 1 (NCHW), or the last dimension of channel-last values.
    public var channels: Int? {
        shape.flatMap { s in s.count >= 2 ? (layout == .channelsFirst ? s[1] : s[s.count - 1]) : nil }
    }
    /// The axes in words for channel-last values ("batch, tokens, channels"; "tokens, batch, channels" inside
    /// torch's attention, which works sequence-first), nil for channel-first ones.
    public let axes: String?

    public enum Layout: String, Sendable { case channelsFirst, channelsLast }
    /// Float weights the node reads (0 for outputs after a node's first).
    public let parameters: Int
    /// Multiply-adds of one forward pass at the planned input size.
    public let multiplyAdds: Int
    /// Why the value cannot be computed, if it cannot.
    public let error: String?
}

extension Plan {
    /// Every node output of the planned graph, in execution order, with the token views (`TokenLayout`) that can be
    /// computed at these shapes.
    public func layers(names: LayerNames) -> [LayerInfo] {
        var madds: [String: Int] = [:]
        for st in steps {
            let ins = st.inputs.map { shapes[$0] ?? graph.constants[$0]?.shape ?? [] }   // a MatMul's constant weights too
            madds[st.node, default: 0] += st.layer.multiplyAdds(ins)
        }
        var rows: [LayerInfo] = []
        let channelLast = TokenLayout.channelLastValues(graph)
        let batch = graph.inputs.first.flatMap { shapes[$0.name]?.first }
        func axes(_ s: [Int]?) -> String? {
            guard let s else { return nil }
            switch s.count {
            case 3: return s[0] == batch ? "batch, tokens, channels" : (s[1] == batch ? "tokens, batch, channels" : nil)
            case 4: return s[0] == batch ? "batch, H, W, channels" : nil
            default: return nil
            }
        }
        for n in graph.nodes {
            var params = 0
            for i in Set(n.inputs) where !i.isEmpty {
                if let c = graph.constants[i], c.isFloat { params += c.count }
            }
            for (k, o) in n.outputs.enumerated() where !o.isEmpty {
                // A class-token view of a layer without a class token is no layer to list.
                if case .noClassToken? = errors[o] { continue }
                rows.append(LayerInfo(alias: names.aliasOf[o], value: o, op: n.opType, node: n.name,
                                      shape: errors[o] == nil ? shapes[o] : nil,
                                      layout: channelLast.contains(o) ? .channelsLast : .channelsFirst,
                                      axes: channelLast.contains(o) ? axes(shapes[o]) : nil, parameters: k == 0 ? params : 0,
                                      multiplyAdds: k == 0 ? madds[n.name, default: 0] : 0,
                                      error: errors[o]?.description))
            }
        }
        return rows
    }
}
