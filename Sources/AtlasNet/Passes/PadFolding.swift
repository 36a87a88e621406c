import AtlasCore

extension Passes {
    /// `fold-pads`: a constant spatial `Pad` read only by a Conv (zero padding), a MaxPool (−∞ padding) or an
    /// unpadded, floor-mode AveragePool (zero padding, which then counts the padding in its divisor) becomes part of
    /// that node's own `pads`, asymmetric pads included. Exact: the padded windows hold the same values, and a pooling
    /// whose output shape would change (ceil mode) is left alone.
    static func foldPads(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var readers: [String: [(node: Int, slot: Int)]] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for (k, v) in n.inputs.enumerated() where !v.isEmpty { readers[v, default: []].append((i, k)) }
        }
        var dead = Set<Int>()
        for (pi, pad) in graph.nodes.enumerated() where pad.isOp("Pad") {
            guard let x = pad.input(0), let y = pad.outputs.first, let shape = state.shapes[x], shape.count >= 3,
                  index.soleProducer(of: y) == pi, let reader = readers[y]?.first, readers[y]?.count == 1, reader.slot == 0,
                  let spec = try? Lowering.padSpec(pad, rank: shape.count, constants: graph.constants),
                  case let .constant(value) = spec.mode else { continue }
            let rank = shape.count
            let begin = Array(spec.pads[2..<rank]), end = Array(spec.pads[(rank + 2)...])
            guard spec.pads[0] == 0, spec.pads[1] == 0, spec.pads[rank] == 0, spec.pads[rank + 1] == 0,
                  spec.pads.allSatisfy({ $0 >= 0 }),
                  var folded = paddedConsumer(graph.nodes[reader.node], begin: begin, end: end, value: value) else { continue }
            folded.inputs[0] = x
            // The folded node must produce the shape the original did (ceil-mode pooling may not).
            let consumer = graph.nodes[reader.node]
            let inShapes = folded.inputs.map { $0.isEmpty ? nil : state.shapes[$0] ?? graph.constants[$0]?.shape }
            guard let out = consumer.outputs.first, let before = state.shapes[out],
                  let after = try? Lowering.lowerWithShapes(folded, inputShapes: inShapes, constants: graph.constants).shapes[out],
                  after == before else { continue }
            graph.nodes[reader.node] = folded
            dead.insert(pi)
            state.removed[y] = "fold-pads"
        }
        graph.removeNodes(dead)
        return dead.count
    }

    /// `node` with `begin`/`end` (per spatial axis) added to its own pads, or nil when padding with `value` in front
    /// of it cannot be expressed that way.
    static func paddedConsumer(_ node: Node, begin: [Int], end: [Int], value: Float) -> Node? {
        let spatial = begin.count
        guard node.domain.isEmpty, let autoPad = try? node.string("auto_pad", default: "NOTSET"),
              autoPad == "NOTSET" || autoPad == "VALID" else { return nil }
        let given: [Int]?
        do { given = autoPad == "VALID" ? nil : try node.ints("pads") } catch { return nil }
        let ownPads = given ?? [Int](repeating: 0, count: 2 * spatial)
        guard ownPads.count == 2 * spatial else { return nil }
        var folded = node
        switch node.opType {
        case "Conv":
            guard value == 0 else { return nil }
        case "MaxPool":
            guard value <= -Float.greatestFiniteMagnitude, let kernel = try? node.ints("kernel_shape"), kernel.count == spatial
            else { return nil }
            // Every window must still hold an input element (the padding never exceeds the kernel).
            let total = zip(begin + end, ownPads).map(+)
            guard (0..<spatial).allSatisfy({ total[$0] < kernel[$0] && total[spatial + $0] < kernel[$0] }) else { return nil }
        case "AveragePool":
            guard value == 0, ownPads.allSatisfy({ $0 == 0 }), (try? node.int("ceil_mode", default: 0)) == 0 else { return nil }
            folded.attributes["count_include_pad"] = .int(1)
        default:
            return nil
        }
        folded.attributes["pads"] = .ints(zip(begin + end, ownPads).map(+))
        folded.attributes["auto_pad"] = .string("NOTSET")
        return folded
    }
}
