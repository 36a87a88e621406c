/// `NetworkDiagram`: a network as a node-link diagram — one node per operator (op, name, output shape,
/// parameters), the runtime inputs and outputs as terminals, one edge per tensor read — written as Graphviz DOT,
/// top to bottom, so that `dot` places parallel branches (inception blocks, residual paths) side by side.
import AtlasNet
import Foundation

public struct NetworkDiagram: Sendable {
    public struct Node: Sendable, Equatable {
        /// DOT identifier (`n0`, `n1`, … in execution order; `in0`, `out0` for terminals).
        public var id: String
        public var op: String
        /// Short alias of its output when there is one, else the ONNX node name.
        public var name: String
        /// The (first) output value's name; the key for links.
        public var value: String
        public var shape: [Int]?
        public var parameters: Int

        /// The label: op (bold), name, shape, parameters.
        public var lines: [(text: String, bold: Bool)] {
            var lines = [(op, true)]
            if op != name { lines.append((name, false)) }
            if let shape { lines.append((NetworkDiagram.shapeText(shape), false)) }
            if parameters > 0 { lines.append(("\(NetworkDiagram.count(parameters)) params", false)) }
            return lines
        }
    }

    public struct Edge: Sendable, Equatable {
        public var from: String
        public var to: String
        /// The tensor carried, and its shape.
        public var tensor: String
        public var shape: [Int]?
    }

    public let nodes: [Node]
    public let edges: [Edge]
    public let title: String

    /// The diagram of `network` planned at `inputShape` (shapes are those of that input).
    public init(network: Network, inputShape: [Int], title: String) throws {
        let plan = try network.plan(for: inputShape)
        let g = plan.graph
        var nodes: [Node] = [], edges: [Edge] = []
        var producer: [String: String] = [:]
        for (i, info) in g.inputs.enumerated() {
            nodes.append(Node(id: "in\(i)", op: "Input", name: info.name, value: info.name, shape: plan.shapes[info.name], parameters: 0))
            producer[info.name] = "in\(i)"
        }
        let rows = Dictionary(plan.layers(names: network.names).map { ($0.value, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, n) in g.nodes.enumerated() {
            let value = n.outputs.first { !$0.isEmpty } ?? n.name
            let row = rows[value]
            if n.opType == TokenLayout.classOp && row == nil { continue }   // no class token to show
            let id = "n\(i)"
            nodes.append(Node(id: id, op: n.opType, name: network.names.aliasOf[value] ?? n.name, value: value,
                              shape: row?.shape, parameters: row?.parameters ?? 0))
            var seen = Set<String>()
            for v in n.inputs where !v.isEmpty && seen.insert(v).inserted {
                if let p = producer[v] { edges.append(Edge(from: p, to: id, tensor: v, shape: plan.shapes[v])) }
            }
            for o in n.outputs where !o.isEmpty { producer[o] = id }
        }
        for (i, info) in g.outputs.enumerated() {
            nodes.append(Node(id: "out\(i)", op: "Output", name: info.name, value: info.name, shape: plan.shapes[info.name], parameters: 0))
            if let p = producer[info.name] { edges.append(Edge(from: p, to: "out\(i)", tensor: info.name, shape: plan.shapes[info.name])) }
        }
        self.nodes = nodes
        self.edges = edges
        self.title = title
    }

    /// The diagram in DOT; nodes whose value has an entry in `links` link to it (SVG `<a>`).
    public func dot(links: [String: String] = [:]) -> String {
        var s = "digraph network {\n"
        s += "  graph [rankdir=TB, nodesep=0.25, ranksep=0.35, fontname=\"Helvetica\", label=\(NetworkDiagram.quote(title)), labelloc=t, fontsize=16, tooltip=\" \"];\n"
        s += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, color=\"#555555\", margin=\"0.12,0.04\"];\n"
        s += "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#777777\", fontcolor=\"#555555\", arrowsize=0.6];\n"
        for n in nodes {
            let label = n.lines.enumerated().map { k, line in
                line.bold ? "<b>\(NetworkDiagram.html(line.text))</b>"
                    : k >= 2 ? "<font color=\"#444444\">\(NetworkDiagram.html(line.text))</font>" : NetworkDiagram.html(line.text)
            }.joined(separator: "<br/>")
            var attrs = "label=<\(label)>, fillcolor=\"\(NetworkDiagram.fill(n.op))\", tooltip=\(NetworkDiagram.quote(n.value))"
            if let url = links[n.value] {
                attrs += ", URL=\(NetworkDiagram.quote(url)), target=\"_top\", penwidth=2, color=\"#1f6feb\""
            }
            s += "  \(n.id) [\(attrs)];\n"
        }
        for e in edges {
            let label = e.shape.map { NetworkDiagram.shapeText($0) } ?? ""
            s += "  \(e.from) -> \(e.to) [label=\(NetworkDiagram.quote(" " + label)), tooltip=\(NetworkDiagram.quote(e.tensor))];\n"
        }
        return s + "}\n"
    }

    /// `1×64×56×56`.
    public static func shapeText(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }

    /// `812`, `9.4k`, `6.6M`.
    public static func count(_ n: Int) -> String {
        if n < 1000 { return "\(n)" }
        if n < 1_000_000 { return String(format: "%.1fk", Double(n) / 1e3) }
        return String(format: "%.1fM", Double(n) / 1e6)
    }

    /// Fill colour by kind of operator.
    static func fill(_ op: String) -> String {
        switch op {
        case "Input", "Output": return "#e8e8e8"
        case "Conv", "ConvTranspose": return "#cfe2ff"
        case "Gemm", "MatMul", "StridedMatMul": return "#d7c8f5"
        case "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Softmax", "Elu", "Selu", "PRelu": return "#fff3bf"
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN", "BatchNormalization": return "#d3f9d8"
        case "Concat", "Add", "Sum", "Mul", "Sub", "Div": return "#ffd8a8"
        default: return "#f1f3f5"
        }
    }

    /// A DOT string literal.
    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: " ") + "\""
    }

    /// Text inside a DOT HTML-like label.
    static func html(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
