import AtlasCore

extension Passes {
    /// `gelu`: the decompositions torch (opsets < 20) and tf2onnx export for GELU become one `Gelu` node (ONNX opset 20
    /// semantics), forward within float32 rounding of the decomposition:
    /// - exact: `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`, also with `Mul(x, 1/√2)` inside and the ½ applied to x first;
    /// - tanh: `Mul(Mul(x, Add(Tanh(Mul(√(2/π), Add(x, Mul(0.044715, x³)))), 1)), 0.5)` with x³ as `Mul(x, Mul(x, x))`
    ///   or `Pow(x, 3)`.
    /// Operand order of the commutative Add/Mul nodes does not matter. Intermediate values read elsewhere block the
    /// rewrite.
    static func fuseGelu(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var dead = Set<Int>()
        var count = 0
        for (i, n) in graph.nodes.enumerated() where n.isOp("Mul") && n.inputs.count == 2 && !dead.contains(i) {
            guard let match = GeluMatcher(graph: graph, index: index, taken: dead).match(n) else { continue }
            count += 1
            graph.nodes[i] = Node(name: n.name, opType: "Gelu", inputs: [match.x], outputs: n.outputs,
                                  attributes: ["approximate": .string(match.tanh ? "tanh" : "none")], opset: max(n.opset, 20))
            for k in match.nodes {
                dead.insert(k)
                for o in graph.nodes[k].outputs where !o.isEmpty { state.removed[o] = "gelu" }
            }
        }
        graph.removeNodes(dead)
        return count
    }
}

/// Matches GELU decompositions ending in one Mul node.
private struct GeluMatcher {
    let graph: Graph
    let index: GraphIndex
    let taken: Set<Int>
    /// Nodes absorbed so far (all but the final Mul).
    var nodes: [Int] = []

    init(graph: Graph, index: GraphIndex, taken: Set<Int>) {
        self.graph = graph
        self.index = index
        self.taken = taken
    }

    /// The sole-use producer of `value` when it is the default-domain `op` with two inputs.
    func node(_ value: String, _ op: String) -> (Int, [String])? {
        guard let p = index.soleProducer(of: value), !taken.contains(p), graph.nodes[p].isOp(op),
              graph.nodes[p].inputs.count == (op == "Erf" || op == "Tanh" ? 1 : 2) else { return nil }
        return (p, graph.nodes[p].inputs)
    }

    /// For a pair of inputs, the one that is not the scalar constant ≈ `c`.
    func other(_ inputs: [String], _ c: Float, commutative: Bool = true) -> String? {
        let close: (String) -> Bool = { graph.scalar($0).map { abs($0 - c) <= 1e-6 * max(1, abs(c)) } ?? false }
        if close(inputs[1]) { return inputs[0] }
        if commutative, close(inputs[0]) { return inputs[1] }
        return nil
    }

    func match(_ final: Node) -> (x: String, tanh: Bool, nodes: [Int])? {
        var m = self
        if let s = other(final.inputs, 0.5) {
            // ½·(x·h)
            guard let (p, ins) = node(s, "Mul") else { return nil }
            for (x, h) in [(ins[0], ins[1]), (ins[1], ins[0])] {
                m.nodes = [p]
                if let tanh = m.onePlus(h, x: x) { return (x, tanh, m.nodes) }
            }
            return nil
        }
        // (½x)·h
        for (half, h) in [(final.inputs[0], final.inputs[1]), (final.inputs[1], final.inputs[0])] {
            guard let (p, ins) = node(half, "Mul"), let x = other(ins, 0.5) else { continue }
            m.nodes = [p]
            if let tanh = m.onePlus(h, x: x) { return (x, tanh, m.nodes) }
        }
        return nil
    }

    /// Whether `h` is 1 + erf(x/√2) (false) or 1 + tanh(√(2/π)(x + 0.044715x³)) (true); absorbs its nodes on a match.
    mutating func onePlus(_ h: String, x: String) -> Bool? {
        guard let (add, ins) = node(h, "Add"), let t = other(ins, 1) else { return nil }
        if let (erf, e) = node(t, "Erf"), let arg = erfArgument(e[0], x: x) {
            nodes += [add, erf, arg]
            return false
        }
        if let (th, u) = node(t, "Tanh"), let inner = tanhArgument(u[0], x: x) {
            nodes += [add, th] + inner
            return true
        }
        return nil
    }

    /// The node computing x/√2 (as a Div or a Mul by 1/√2), or nil.
    func erfArgument(_ e: String, x: String) -> Int? {
        if let (p, ins) = node(e, "Div"), ins[0] == x, other(ins, 1.4142135, commutative: false) != nil { return p }
        if let (p, ins) = node(e, "Mul"), other(ins, 0.70710677) == x { return p }
        return nil
    }

    /// The nodes of √(2/π)·(x + 0.044715·x³), or nil.
    func tanhArgument(_ u: String, x: String) -> [Int]? {
        guard let (outer, ins) = node(u, "Mul"), let w = other(ins, 0.7978846),
              let (sum, terms) = node(w, "Add") else { return nil }
        let q = terms[0] == x ? terms[1] : (terms[1] == x ? terms[0] : nil)
        guard let q, let (scaled, qs) = node(q, "Mul"), let cube = other(qs, 0.044715) else { return nil }
        if let (pow, ps) = node(cube, "Pow"), ps[0] == x, graph.scalar(ps[1]) == 3 { return [outer, sum, scaled, pow] }
        if let (m1, ms) = node(cube, "Mul") {
            for (a, b) in [(ms[0], ms[1]), (ms[1], ms[0])] where a == x {
                if let (m2, sq) = node(b, "Mul"), sq[0] == x, sq[1] == x { return [outer, sum, scaled, m1, m2] }
            }
        }
        return nil
    }
}
