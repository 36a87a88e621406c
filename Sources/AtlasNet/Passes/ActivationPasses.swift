import AtlasCore

extension Passes {
    /// `clip-relu`: `Clip(0, +∞)` (what `torch.clamp(min=0)` exports) becomes `Relu`, with the same values and, under
    /// Clip's gradient rule (it passes where 0 < y < max), the same gradient. Clip(0, 6) (ReLU6) stays a Clip: the
    /// executor fuses it into a preceding conv as it does Relu.
    static func clipToRelu(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        var count = 0
        for (i, n) in graph.nodes.enumerated() where n.isOp("Clip") {
            guard let x = n.input(0), let bounds = try? Lowering.clipBounds(n, constants: graph.constants),
                  bounds.min == 0, bounds.max >= Float.greatestFiniteMagnitude else { continue }
            graph.nodes[i] = Node(name: n.name, opType: "Relu", inputs: [x], outputs: [n.outputs[0]], opset: n.opset)
            count += 1
        }
        return count
    }

    /// `swish`: `x * Sigmoid(x)` (SiLU, what `nn.SiLU` exports) becomes one `ai.atlas` SiLU step, bit-identical
    /// forward; `x * HardSigmoid(x)` with α = 1/6, β = ½ (HardSwish at opsets before 14) becomes HardSwish, within
    /// float32 rounding (x/6 is computed as x·(1/6) either way, but the product order differs).
    static func fuseSwish(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var dead = Set<Int>()
        for (i, n) in graph.nodes.enumerated() where n.isOp("Mul") && n.inputs.count == 2 {
            for (gate, x) in [(n.inputs[1], n.inputs[0]), (n.inputs[0], n.inputs[1])] {
                guard let g = index.soleProducer(of: gate), !dead.contains(g), graph.nodes[g].input(0) == x else { continue }
                let gateNode = graph.nodes[g]
                let fused: Node
                if gateNode.isOp("Sigmoid") {
                    fused = Node(name: n.name, opType: "SiLU", domain: atlasDomain, inputs: [x], outputs: n.outputs, opset: n.opset)
                } else if gateNode.isOp("HardSigmoid"),
                          let alpha = try? gateNode.float("alpha", default: 0.2), abs(alpha - 1 / 6) < 1e-6,
                          (try? gateNode.float("beta", default: 0.5)) == 0.5 {
                    fused = Node(name: n.name, opType: "HardSwish", inputs: [x], outputs: n.outputs, opset: max(n.opset, 14))
                } else {
                    continue
                }
                graph.nodes[i] = fused
                dead.insert(g)
                state.removed[gate] = "swish"
                break
            }
        }
        graph.removeNodes(dead)
        return dead.count
    }
}
