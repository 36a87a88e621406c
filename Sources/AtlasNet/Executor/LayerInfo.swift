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
    /// Dimension 1 of the output (channels for NCHW), when the output has one.
    public var channels: Int? { shape.flatMap { $0.count >= 2 ? $0[1] : nil } }
    /// Float weights the node reads (0 for outputs after a node's first).
    public let parameters: Int
    /// Multiply-adds of one forward pass at the planned input size.
    public let multiplyAdds: Int
    /// Why the value cannot be computed, if it cannot.
    public let error: String?
}

extension Plan {
    /// Every node output of the planned graph, in execution order.
    public func layers(names: LayerNames) -> [LayerInfo] {
        var madds: [String: Int] = [:]
        for st in steps {
            let ins = st.inputs.map { shapes[$0] ?? [] }
            madds[st.node, default: 0] += st.layer.multiplyAdds(ins)
        }
        var rows: [LayerInfo] = []
        for n in graph.nodes {
            var params = 0
            for i in Set(n.inputs) where !i.isEmpty {
                if let c = graph.constants[i], c.isFloat { params += c.count }
            }
            for (k, o) in n.outputs.enumerated() where !o.isEmpty {
                rows.append(LayerInfo(alias: names.aliasOf[o], value: o, op: n.opType, node: n.name,
                                      shape: errors[o] == nil ? shapes[o] : nil, parameters: k == 0 ? params : 0,
                                      multiplyAdds: k == 0 ? madds[n.name, default: 0] : 0,
                                      error: errors[o]?.description))
            }
        }
        return rows
    }
}
