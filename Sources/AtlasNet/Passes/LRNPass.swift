import AtlasCore

extension Passes {
    /// Ops that only reshape a value (their data is the input's, in the same order).
    static let shapeOnlyOps: Set<String> = ["Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"]

    /// `lrn`: the decomposition `torch.nn.functional.local_response_norm` exports for NCHW input,
    ///
    ///     x / (k + α · AvgPool3d(Pad(Reshape(x · x, [N, 1, C, H, W])), (size, 1, 1)))^β
    ///
    /// (reshapes, Squeeze and Identity nodes in between; the Pad may already sit in the pool's own pads) becomes one
    /// native LRN(size, α, β, bias k), which has the same window ([c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]) and divisor
    /// (size). Within float32 rounding: LRN sums the window in another order.
    static func recognizeLRN(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var dead = Set<Int>()
        var count = 0
        for (di, div) in graph.nodes.enumerated() where div.isOp("Div") && div.inputs.count == 2 {
            guard let match = matchLRN(div, graph, index, state.shapes), match.nodes.isDisjoint(with: dead) else { continue }
            graph.nodes[di] = Node(name: div.name, opType: "LRN", inputs: [match.x], outputs: [div.outputs[0]],
                                   attributes: ["size": .int(match.size), "alpha": .float(match.alpha),
                                                "beta": .float(match.beta), "bias": .float(match.bias)],
                                   opset: div.opset)
            dead.formUnion(match.nodes)
            count += 1
            for n in match.nodes { for o in graph.nodes[n].outputs where !o.isEmpty { state.removed[o] = "lrn" } }
        }
        graph.removeNodes(dead)
        return count
    }

    private struct LRNMatch {
        var x: String, size: Int, alpha: Float, beta: Float, bias: Float
        /// The nodes the LRN replaces (all but the Div).
        var nodes: Set<Int>
    }

    private static func matchLRN(_ div: Node, _ g: Graph, _ index: GraphIndex, _ shapes: [String: [Int]]) -> LRNMatch? {
        var nodes = Set<Int>()
        /// The sole producer of `v` if it is the op `op` (recorded as part of the pattern).
        func producer(_ v: String, _ op: String) -> Node? {
            guard let p = index.soleProducer(of: v), g.nodes[p].isOp(op) else { return nil }
            nodes.insert(p)
            return g.nodes[p]
        }
        /// Walks back from `v` through single-use shape-only nodes; returns the first value produced otherwise.
        func throughReshapes(_ v: String) -> String {
            var v = v
            while let p = index.soleProducer(of: v), shapeOnlyOps.contains(g.nodes[p].opType), g.nodes[p].domain.isEmpty,
                  let input = g.nodes[p].input(0) {
                nodes.insert(p)
                v = input
            }
            return v
        }
        /// A binary node's operand other than the scalar constant, and that scalar.
        func scalarOperand(_ n: Node) -> (String, Float)? {
            guard n.inputs.count == 2 else { return nil }
            if let s = g.scalar(n.inputs[1]) { return (n.inputs[0], s) }
            if let s = g.scalar(n.inputs[0]) { return (n.inputs[1], s) }
            return nil
        }
        let x = div.inputs[0]
        guard let xShape = shapes[x], xShape.count == 4,
              let pow = producer(div.inputs[1], "Pow"), let beta = g.scalar(pow.inputs[1]),
              let add = producer(pow.inputs[0], "Add"), let (scaled, bias) = scalarOperand(add),
              let mul = producer(scaled, "Mul"), let (pooledView, alpha) = scalarOperand(mul),
              shapes[pooledView] == xShape else { return nil }
        guard let pool = producer(throughReshapes(pooledView), "AveragePool"), let poolInput = pool.input(0),
              let kernel = try? pool.ints("kernel_shape"), kernel.count == 3, kernel[1] == 1, kernel[2] == 1,
              ((try? pool.ints("strides")) ?? nil ?? [1, 1, 1]) == [1, 1, 1],
              (try? pool.int("ceil_mode", default: 0)) == 0,
              (try? pool.string("auto_pad", default: "NOTSET")) == "NOTSET" else { return nil }
        let size = kernel[0]
        var begin = 0, end = 0
        if let own = (try? pool.ints("pads")) ?? nil {
            guard own.count == 6, own[1] == 0, own[2] == 0, own[4] == 0, own[5] == 0 else { return nil }
            begin = own[0]
            end = own[3]
        }
        // The pool's divisor is `size` for every channel only when its own padding counts (or there is none).
        if begin + end > 0, (try? pool.int("count_include_pad", default: 0)) != 1 { return nil }
        var squares = poolInput
        if let p = index.soleProducer(of: poolInput), g.nodes[p].isOp("Pad") {
            let pad = g.nodes[p]
            guard let spec = try? Lowering.padSpec(pad, rank: 5, constants: g.constants), spec.mode == .constant(0),
                  spec.pads.enumerated().allSatisfy({ $0.offset % 5 == 2 || $0.element == 0 }), let input = pad.input(0)
            else { return nil }
            nodes.insert(p)
            begin += spec.pads[2]
            end += spec.pads[7]
            squares = input
        }
        let (n, c, h, w) = (xShape[0], xShape[1], xShape[2], xShape[3])
        guard let viewShape = shapes[squares], viewShape.count == 5, viewShape[0] == n, viewShape[1] == 1, viewShape[2] == c,
              viewShape[3] * viewShape[4] == h * w,
              let square = producer(throughReshapes(squares), "Mul"), square.inputs == [x, x],
              size >= 1, begin == (size - 1) / 2, end == size - 1 - begin else { return nil }
        return LRNMatch(x: x, size: size, alpha: alpha, beta: beta, bias: bias, nodes: nodes)
    }
}
