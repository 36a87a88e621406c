extension Passes {
    /// Shapes of the outputs of a node that is not folded (by value name; absent = unknown), from its input
    /// shapes (nil = unknown) and the constants known at that point.
    public typealias ShapeInference = (_ node: Node, _ inputShapes: [[Int]?], _ constants: [String: Constant]) throws -> [String: [Int]]

    /// Folds, in topological order, every node whose inputs are all constant and that `ConstantEvaluator`
    /// computes; `Shape`/`Size` of values whose shape is known; and `If` with a constant condition (the chosen
    /// branch is inlined and folded further). Shapes are known for `inputShapes`, constants, and whatever
    /// `inferShapes` reports for nodes that stay; so fold *after* fixing the input shape to resolve
    /// shape-dependent subgraphs. Returns the shapes known at the end, by value name.
    @discardableResult
    public static func foldConstants(_ graph: inout Graph, inputShapes: [String: [Int]] = [:],
                                     inferShapes: ShapeInference? = nil) throws -> [String: [Int]] {
        var shapes = inputShapes
        var queue = graph.nodes
        var kept: [Node] = []
        kept.reserveCapacity(queue.count)
        var i = 0
        func shape(_ v: String) -> [Int]? { shapes[v] ?? graph.constants[v]?.shape }
        while i < queue.count {
            let n = queue[i]
            i += 1
            let consts = n.inputs.map { $0.isEmpty ? nil : graph.constants[$0] }
            let allConstant = zip(n.inputs, consts).allSatisfy { $0.0.isEmpty || $0.1 != nil }
            if n.domain.isEmpty {
                if n.opType == "If", let cond = consts.first ?? nil {
                    guard cond.count >= 1 else { throw n.invalid("empty condition") }
                    let branch = try inlineBranch(n, taken: cond.ints[0] != 0, graph: &graph)
                    queue.insert(contentsOf: branch, at: i)
                    continue
                }
                if (n.opType == "Shape" || n.opType == "Size"), let x = n.input(0), consts[0] == nil, let s = shape(x),
                   let y = n.outputs.first {
                    if n.opType == "Size" {
                        graph.constants[y] = Constant(shape: [], ints: [s.reduce(1, *)])
                    } else {
                        let (a, b) = try ConstantEvaluator.shapeRange(n, rank: s.count)
                        graph.constants[y] = Constant(ints: Array(s[a..<max(a, b)]))
                    }
                    shapes[y] = graph.constants[y]!.shape
                    continue
                }
            }
            if allConstant, let outs = try ConstantEvaluator.evaluate(n, inputs: consts) {
                for (name, c) in zip(n.outputs, outs) where !name.isEmpty {
                    graph.constants[name] = c
                    shapes[name] = c.shape
                }
                continue
            }
            kept.append(n)
            let inShapes = n.inputs.map { $0.isEmpty ? nil : shape($0) }
            if (n.opType == "Identity" || n.opType == "Dropout"), let s = inShapes.first ?? nil, let y = n.outputs.first {
                shapes[y] = s
            } else if let inferShapes {
                for (name, s) in try inferShapes(n, inShapes, graph.constants) where n.outputs.contains(name) { shapes[name] = s }
            }
        }
        graph.nodes = kept
        return shapes
    }

    /// The nodes of the taken branch of an `If`, followed by Identity nodes that bind its outputs to the If's.
    static func inlineBranch(_ n: Node, taken: Bool, graph: inout Graph) throws -> [Node] {
        let key = taken ? "then_branch" : "else_branch"
        guard let branch = try n.graph(key) else { throw n.invalid("missing attribute '\(key)'") }
        guard branch.outputs.count == n.outputs.count else {
            throw n.invalid("branch has \(branch.outputs.count) outputs, the node \(n.outputs.count)")
        }
        var sub = branch
        try sortTopologically(&sub)
        for (name, c) in sub.constants { graph.constants[name] = c }
        var nodes = sub.nodes
        for (k, (inner, outer)) in zip(sub.outputs.map(\.name), n.outputs).enumerated() where !outer.isEmpty {
            nodes.append(Node(name: "\(n.name).\(key).output\(k)", opType: "Identity", inputs: [inner], outputs: [outer],
                              opset: n.opset))
        }
        return nodes
    }
}
