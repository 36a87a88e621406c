/// Load-time graph passes: topological order with cycle detection, Identity/Dropout removal, dead-node
/// elimination. Constant folding and BatchNorm folding live in their own files.
public enum Passes {
    /// Reorders `graph.nodes` topologically, keeping the file's order among independent nodes (so an already
    /// sorted graph is unchanged). Throws `ModelError.cycle` naming the nodes that sit on or behind a cycle.
    public static func sortTopologically(_ graph: inout Graph) throws {
        let nodes = graph.nodes
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs where !o.isEmpty { producer[o] = i } }
        var indegree = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            var seen = Set<Int>()
            for v in n.allReads where !v.isEmpty {
                if let p = producer[v], seen.insert(p).inserted {
                    indegree[i] += 1
                    consumers[p].append(i)
                }
            }
        }
        var heap = MinHeap()
        for i in nodes.indices where indegree[i] == 0 { heap.push(i) }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let i = heap.pop() {
            order.append(i)
            for c in consumers[i] {
                indegree[c] -= 1
                if indegree[c] == 0 { heap.push(c) }
            }
        }
        guard order.count == nodes.count else {
            throw ModelError.cycle(nodes: nodes.indices.filter { indegree[$0] > 0 }.map { nodes[$0].name })
        }
        graph.nodes = order.map { nodes[$0] }
    }

    /// Removes Identity nodes and Dropout nodes (inference: Dropout is the identity), rewiring their consumers.
    /// A removed node's output that is a graph output keeps its name (the producer is renamed instead).
    public static func removeIdentities(_ graph: inout Graph) {
        var i = 0
        while i < graph.nodes.count {
            let n = graph.nodes[i]
            let isDropout = n.opType == "Dropout" && n.domain.isEmpty
            guard (n.opType == "Identity" && n.domain.isEmpty) || isDropout, let x = n.input(0),
                  let y = n.outputs.first, !y.isEmpty else { i += 1; continue }
            let uses = graph.useCounts
            if isDropout, n.outputs.count > 1, !n.outputs[1].isEmpty, uses[n.outputs[1], default: 0] > 0 {
                i += 1; continue   // the mask is used: keep the node (lowering reports it)
            }
            let graphOutputs = Set(graph.outputs.map(\.name))
            if !graphOutputs.contains(y) {
                graph.nodes.remove(at: i)
                graph.renameUses(of: y, to: x)
                continue
            }
            // y is a graph output: rename x to y if x is an ordinary intermediate value.
            let producers = graph.producers
            if let p = producers[x], p != i, !graphOutputs.contains(x) {
                graph.nodes.remove(at: i)
                let p2 = p > i ? p - 1 : p
                graph.nodes[p2].outputs = graph.nodes[p2].outputs.map { $0 == x ? y : $0 }
                graph.renameUses(of: x, to: y)
                continue
            }
            i += 1
        }
    }

    /// Keeps only the nodes that `values` depend on (default: the graph outputs) and the constants they read.
    public static func eliminateDeadNodes(_ graph: inout Graph, keeping values: Set<String>? = nil) {
        let wanted = values ?? Set(graph.outputs.map(\.name))
        let producers = graph.producers
        var live = [Bool](repeating: false, count: graph.nodes.count)
        var stack = Array(wanted)
        var seen = Set<String>()
        while let v = stack.popLast() {
            guard seen.insert(v).inserted, let p = producers[v], !live[p] else { continue }
            live[p] = true
            stack.append(contentsOf: graph.nodes[p].allReads.filter { !$0.isEmpty })
        }
        graph.nodes = graph.nodes.indices.filter { live[$0] }.map { graph.nodes[$0] }
        var read = wanted
        for n in graph.nodes { read.formUnion(n.allReads) }
        graph.constants = graph.constants.filter { read.contains($0.key) }
    }
}

extension Graph {
    /// Replaces reads of value `old` by `new` in every node, subgraphs included.
    /// Subgraph outputs that name the outer value are renamed too; the main graph's outputs keep their names.
    public mutating func renameUses(of old: String, to new: String, renamingOutputs: Bool = false) {
        for i in nodes.indices {
            if nodes[i].inputs.contains(old) { nodes[i].inputs = nodes[i].inputs.map { $0 == old ? new : $0 } }
            for (key, a) in nodes[i].attributes {
                if case var .graph(g) = a, g.outerReads.contains(old) {
                    g.renameUses(of: old, to: new, renamingOutputs: true)
                    nodes[i].attributes[key] = .graph(g)
                }
            }
        }
        if renamingOutputs { for i in outputs.indices where outputs[i].name == old { outputs[i].name = new } }
    }
}

/// A binary min-heap of Ints (node indices), for stable topological sorting.
struct MinHeap {
    private var items: [Int] = []
    mutating func push(_ x: Int) {
        items.append(x)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[p] <= items[c] { break }
            items.swapAt(p, c)
            c = p
        }
    }
    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top
    }
}
