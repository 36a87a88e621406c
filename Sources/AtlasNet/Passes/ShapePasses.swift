import AtlasCore

extension Passes {
    /// `shape-chains`: a chain of shape-only nodes (Reshape, Squeeze, Unsqueeze, Flatten, Identity) whose links are
    /// read only by the next becomes one Reshape to the chain's final shape, and a shape-only node whose output has its
    /// input's shape is removed (its value stays requestable: it names the input's). Exact: no values change.
    static func collapseShapeChains(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var dead = Set<Int>()
        var count = 0
        for (i, n) in graph.nodes.enumerated() where isShapeOnly(n) {
            guard let v = n.input(0), let p = index.soleProducer(of: v), !dead.contains(p), isShapeOnly(graph.nodes[p]),
                  let start = graph.nodes[p].input(0), let y = n.outputs.first, let shape = state.shapes[y] else { continue }
            let shapeName = "\(n.name)::shape"
            graph.constants[shapeName] = Constant(ints: shape)
            graph.nodes[i] = Node(name: n.name, opType: "Reshape", inputs: [start, shapeName], outputs: [y], opset: max(n.opset, 5))
            dead.insert(p)
            state.removed[v] = "shape-chains"
            count += 1
        }
        for (i, n) in graph.nodes.enumerated() where isShapeOnly(n) && !dead.contains(i) {
            guard let x = n.input(0), let y = n.outputs.first, !index.outputs.contains(y), let shape = state.shapes[y],
                  state.shapes[x] == shape else { continue }
            graph.renameUses(of: y, to: x)
            state.aliases[y] = x
            dead.insert(i)
            count += 1
        }
        graph.removeNodes(dead)
        return count
    }

    static func isShapeOnly(_ n: Node) -> Bool {
        n.domain.isEmpty && shapeOnlyOps.contains(n.opType) && n.outputs.count == 1
    }

    /// `transpose-pairs`: Transpose(Transpose(x, p), q) with the inner one read only by the outer becomes one
    /// Transpose(x, p∘q), or nothing when the two undo each other. Exact.
    static func composeTransposes(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        var dead = Set<Int>()
        var count = 0
        var index = GraphIndex(graph)
        for (i, n) in graph.nodes.enumerated() where n.isOp("Transpose") {
            guard let v = n.input(0), let p = index.soleProducer(of: v), !dead.contains(p), graph.nodes[p].isOp("Transpose"),
                  let x = graph.nodes[p].input(0), let rank = state.shapes[x]?.count, let y = n.outputs.first,
                  let inner = permutation(graph.nodes[p], rank: rank), let outer = permutation(n, rank: rank) else { continue }
            let composed = outer.map { inner[$0] }
            dead.insert(p)
            state.removed[v] = "transpose-pairs"
            count += 1
            if composed == Array(0..<rank), !index.outputs.contains(y) {
                graph.renameUses(of: y, to: x)
                state.aliases[y] = x
                dead.insert(i)
                index = GraphIndex(graph)
            } else {
                graph.nodes[i] = Node(name: n.name, opType: "Transpose", inputs: [x], outputs: [y],
                                      attributes: ["perm": .ints(composed)], opset: n.opset)
            }
        }
        graph.removeNodes(dead)
        return count
    }

    /// A Transpose node's permutation (default: reversed axes), nil when it is not one of 0..<rank.
    static func permutation(_ n: Node, rank: Int) -> [Int]? {
        let given: [Int]?
        do { given = try n.ints("perm") } catch { return nil }
        guard let given else { return Array((0..<rank).reversed()) }
        let perm = given.map { $0 < 0 ? $0 + rank : $0 }
        return perm.sorted() == Array(0..<rank) ? perm : nil
    }
}
