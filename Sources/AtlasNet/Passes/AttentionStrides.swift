import AtlasCore

extension Passes {
    /// The `ai.atlas` op of a `StridedMatMul`: inputs [A source, B source]; attributes a_shape, a_strides, b_shape,
    /// b_strides (the operand views), a_scale and b_scale (optional), y_strides (where the product's elements go in the
    /// output) and y_shape.
    public static let stridedMatMulOp = "StridedMatMul"

    /// `attention-strides`: a batched MatMul whose operands are Transpose / Reshape chains (each value read once) of
    /// their sources, optionally with a Mul by a scalar constant, and whose product is read only by a Transpose,
    /// becomes one `StridedMatMul` reading the sources through strides and writing the transposed product: attention's
    /// head split and merge and its Kᵀ (torch's scaled_dot_product_attention export) without whole-tensor copies. The
    /// scalar Mul becomes the operand's scale, applied as it is read. Exact: the same products on the same values.
    static func strideAttention(_ graph: inout Graph, _ state: inout PassState) throws -> Int {
        let index = GraphIndex(graph)
        var dead = Set<Int>()
        var count = 0
        for (i, n) in graph.nodes.enumerated() where n.isOp("MatMul") && n.inputs.count == 2 {
            guard let y = n.outputs.first, let yShape = state.shapes[y], yShape.count >= 3, !yShape.suffix(2).contains(1),
                  let va = operandView(n.inputs[0], graph, index, state, dead) ?? plainView(n.inputs[0], state),
                  let vb = operandView(n.inputs[1], graph, index, state, dead) ?? plainView(n.inputs[1], state),
                  graph.constants[va.source] == nil, graph.constants[vb.source] == nil,
                  va.view.shape.dropLast(2) == vb.view.shape.dropLast(2), va.view.shape.count == yShape.count,
                  (va.view.shape.last ?? 0) > 1 else { continue }
            // The product's strides: contiguous, or through the Transpose that alone reads it.
            var out = y, outShape = yShape, productStrides = contiguousStrides(yShape), outNode: Int?
            if let t = index.uses[y] == 1 && !index.outputs.contains(y) ? graph.nodes.indices.first(where: {
                   graph.nodes[$0].isOp("Transpose") && graph.nodes[$0].input(0) == y && !dead.contains($0) }) : nil,
               let perm = permutation(graph.nodes[t], rank: yShape.count), let z = graph.nodes[t].outputs.first,
               let zShape = state.shapes[z] {
                let zStrides = contiguousStrides(zShape)
                var s = [Int](repeating: 0, count: yShape.count)
                for (j, p) in perm.enumerated() { s[p] = zStrides[j] }
                if s.last == 1 { (out, outShape, productStrides, outNode) = (z, zShape, s, t) }
            }
            guard va.transposes + vb.transposes + (outNode == nil ? 0 : 1) > 0 else { continue }
            var attributes: [String: Attribute] = ["y_strides": .ints(productStrides)]
            var inputs: [String] = []
            for (tag, v) in [("a", va), ("b", vb)] {
                attributes["\(tag)_shape"] = .ints(v.view.shape)
                attributes["\(tag)_strides"] = .ints(v.view.strides)
                if let (m, scalarSlot) = v.mul, let scale = graph.scalar(graph.nodes[m].inputs[scalarSlot]) {
                    attributes["\(tag)_scale"] = .float(scale)
                    dead.insert(m)
                    state.removed[graph.nodes[m].outputs[0]] = "attention-strides"
                }
                inputs.append(v.source)
                for c in v.chain {
                    dead.insert(c)
                    for o in graph.nodes[c].outputs { state.removed[o] = "attention-strides" }
                }
            }
            if let t = outNode {
                dead.insert(t)
                state.removed[y] = "attention-strides"
            }
            attributes["y_shape"] = .ints(outShape)
            graph.nodes[i] = Node(name: n.name, opType: stridedMatMulOp, domain: atlasDomain, inputs: inputs,
                                  outputs: [out], attributes: attributes, opset: n.opset)
            count += 1
        }
        graph.removeNodes(dead)
        return count
    }

    /// A MatMul operand as a strided view of a source value, with the nodes it replaces.
    struct OperandView {
        var source: String
        var view: StridedMatMul.View
        /// The Transpose and shape-only nodes between source and operand (removed with the MatMul).
        var chain: [Int]
        var transposes: Int
        /// The scalar Mul on the way (node index, which input is the scalar): removed, its scalar the operand's scale.
        var mul: (node: Int, scalar: Int)?
    }

    /// Walks back from `value` through Transposes, shape-only nodes and at most one Mul by a scalar constant, each
    /// read only by the next, and returns the operand as a one-to-one view of where the walk stopped.
    static func operandView(_ value: String, _ graph: Graph, _ index: GraphIndex, _ state: PassState,
                            _ dead: Set<Int>) -> OperandView? {
        var steps: [(node: Int, isTranspose: Bool)] = []
        var mul: (node: Int, scalar: Int)?
        var v = value
        while let p = index.soleProducer(of: v), !dead.contains(p) {
            let node = graph.nodes[p]
            if node.isOp("Transpose") || isShapeOnly(node) {
                steps.append((p, node.isOp("Transpose")))
            } else if mul == nil, node.isOp("Mul"), node.inputs.count == 2,
                      let s = [0, 1].first(where: { graph.scalar(node.inputs[$0]) != nil && graph.constants[node.inputs[1 - $0]] == nil }) {
                mul = (p, s)
                v = node.inputs[1 - s]
                continue
            } else {
                break
            }
            guard let x = node.input(0) else { return nil }
            v = x
        }
        guard let sourceShape = state.shapes[v] else { return nil }
        var shape = sourceShape, strides = contiguousStrides(sourceShape)
        for (p, isTranspose) in steps.reversed() {
            let node = graph.nodes[p]
            guard let o = node.outputs.first, let target = state.shapes[o] else { return nil }
            if isTranspose {
                guard let perm = permutation(node, rank: shape.count) else { return nil }
                (shape, strides) = (perm.map { shape[$0] }, perm.map { strides[$0] })
            } else {
                guard let s = viewStrides(shape, strides, reshapedTo: target) else { return nil }
                (shape, strides) = (target, s)
            }
        }
        guard shape == state.shapes[value], shape.count >= 3,
              isOneToOne(shape, strides) else { return nil }
        return OperandView(source: v, view: StridedMatMul.View(shape: shape, strides: strides),
                           chain: steps.map(\.node),
                           transposes: steps.filter(\.isTranspose).count, mul: mul)
    }

    /// `value` itself as a contiguous operand.
    static func plainView(_ value: String, _ state: PassState) -> OperandView? {
        guard let shape = state.shapes[value], shape.count >= 3 else { return nil }
        return OperandView(source: value, view: StridedMatMul.View(shape: shape, strides: contiguousStrides(shape)),
                           chain: [], transposes: 0, mul: nil)
    }

    /// The strides of a view of `shape`/`strides` reshaped to `target` without copying, nil when the reshape would
    /// need a copy (it splits or merges dimensions that are not adjacent in memory).
    public static func viewStrides(_ shape: [Int], _ strides: [Int], reshapedTo target: [Int]) -> [Int]? {
        let old = zip(shape, strides).filter { $0.0 != 1 }
        var result = [Int](repeating: 0, count: target.count)
        var oi = 0, ni = 0
        while ni < target.count {
            if target[ni] == 1 { result[ni] = 1; ni += 1; continue }
            guard oi < old.count else { return nil }
            var oj = oi, nj = ni, op = old[oi].0, np = target[ni]
            while op != np {
                if op < np { oj += 1; guard oj < old.count else { return nil }; op *= old[oj].0 }
                else { nj += 1; guard nj < target.count else { return nil }; np *= target[nj] }
            }
            for d in oi..<oj where old[d].1 != old[d + 1].1 * old[d + 1].0 { return nil }
            var s = old[oj].1
            for d in stride(from: nj, through: ni, by: -1) {
                result[d] = s
                s *= target[d]
            }
            oi = oj + 1
            ni = nj + 1
        }
        return oi == old.count ? result : nil
    }

    /// Whether the view reaches every element of a contiguous buffer of its size exactly once.
    public static func isOneToOne(_ shape: [Int], _ strides: [Int]) -> Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).filter({ $0.0 != 1 }).sorted(by: { $0.1 < $1.1 }) {
            guard stride == expected else { return false }
            expected *= size
        }
        return true
    }
}
