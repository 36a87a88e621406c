import AtlasCore

/// Lowering of the ops vision transformers and ConvNeXt add: LayerNormalization, Erf, Gelu, two-operand Einsum
/// (as batched MatMul between transposes and reshapes) and Gather of runtime data with constant indices.
extension Lowering {
    static let transformerOps: Set<String> = ["LayerNormalization", "Erf", "Gelu", "Einsum", "Gather"]

    static func lowerTransformerOp(_ c: Context) throws -> [Step]? {
        let node = c.node
        switch node.opType {
        case "LayerNormalization":
            guard node.input(1) != nil else { throw node.invalid("missing Scale") }
            let scale = try c.requireConstant(1).tensor
            let bias = node.input(2) == nil ? nil : try c.requireConstant(2).tensor
            let axis = try c.axis(try node.int("axis", default: -1), rank: c.xShape.count)
            let epsilon = try node.float("epsilon", default: 1e-5)
            var steps = [c.step(LayerNorm(axis: axis, epsilon: epsilon, scale: scale, bias: bias))]
            for (k, output) in node.outputs.enumerated().dropFirst() where k <= 2 && !output.isEmpty {
                steps.append(c.step(LayerNormStatistic(axis: axis, epsilon: epsilon, inverseDeviation: k == 2), output: output))
            }
            return steps
        case "Erf": return [c.step(Erf())]
        case "Gelu":
            let mode = try node.string("approximate", default: "none")
            guard mode == "none" || mode == "tanh" else { throw node.invalid("unknown approximate mode '\(mode)'") }
            return [c.step(Gelu(tanhApproximation: mode == "tanh"))]
        case "Einsum": return try lowerEinsum(c)
        case "Gather":
            let s = c.xShape
            let axis = try c.axis(try node.int("axis", default: 0), rank: s.count)
            let index = try c.requireConstant(1)
            let indices = try index.ints.map { i -> Int in
                let r = i < 0 ? i + s[axis] : i
                guard r >= 0, r < s[axis] else { throw node.invalid("index \(i) out of range for dimension \(s[axis]) of \(s)") }
                return r
            }
            return [c.step(GatherLayer(axis: axis, indices: indices, indexShape: index.shape))]
        default: return nil
        }
    }

    /// `A, B -> out` with distinct letters per operand: batch letters (in A, B and out), M letters (A and out), N letters
    /// (B and out) and contracted K letters (A and B only) become A → [batch…, M, K], B → [batch…, K, N], MatMul (which
    /// broadcasts batch dimensions of size 1), then a reshape and transpose to the output's order.
    static func lowerEinsum(_ c: Context) throws -> [Step] {
        let node = c.node
        let equation = try node.string("equation", default: "").filter { !$0.isWhitespace }
        let sides = equation.components(separatedBy: "->")
        let operands = sides.first?.split(separator: ",", omittingEmptySubsequences: false).map(Array.init) ?? []
        guard sides.count == 2, operands.count == 2, node.inputs.count == 2, c.shapes.count == 2 else {
            throw node.invalid("only two-operand einsum with an explicit output is supported, got '\(equation)'")
        }
        let a = operands[0], b = operands[1], out = Array(sides[1])
        for term in [a, b, out] {
            guard term.allSatisfy(\.isLetter), Set(term).count == term.count else {
                throw node.invalid("unsupported einsum term '\(String(term))' in '\(equation)' (ellipses, repeated letters)")
            }
        }
        let (sa, sb) = (c.shapes[0], c.shapes[1])
        guard sa.count == a.count, sb.count == b.count else {
            throw node.invalid("einsum '\(equation)' does not fit input shapes \(sa) and \(sb)")
        }
        let batch = out.filter { a.contains($0) && b.contains($0) }
        let mLetters = out.filter { a.contains($0) && !b.contains($0) }
        let nLetters = out.filter { b.contains($0) && !a.contains($0) }
        let kLetters = a.filter { b.contains($0) && !out.contains($0) }
        guard out.allSatisfy({ a.contains($0) || b.contains($0) }),
              a.allSatisfy({ out.contains($0) || b.contains($0) }), b.allSatisfy({ out.contains($0) || a.contains($0) }) else {
            throw node.invalid("einsum '\(equation)': letters summed within one operand are not supported")
        }
        func size(_ letter: Character, _ term: [Character], _ shape: [Int]) -> Int { shape[term.firstIndex(of: letter)!] }
        for k in kLetters where size(k, a, sa) != size(k, b, sb) {
            throw node.invalid("einsum '\(equation)': contracted dimension '\(k)' differs (\(sa) vs \(sb))")
        }
        let m = mLetters.reduce(1) { $0 * size($1, a, sa) }, n = nLetters.reduce(1) { $0 * size($1, b, sb) }
        let k = kLetters.reduce(1) { $0 * size($1, a, sa) }
        var steps: [Step] = []
        /// `name` transposed to `order` and reshaped to `shape` (steps only where they change something).
        func arrange(_ name: String, _ term: [Character], _ order: [Character], _ shape: [Int], _ tag: String) -> String {
            var value = name
            let perm = order.map { term.firstIndex(of: $0)! }
            if perm != Array(perm.indices) {
                steps.append(c.step(Transpose(perm: perm), [value], output: c.temp("\(tag)T")))
                value = c.temp("\(tag)T")
            }
            steps.append(c.step(Reshape(shape: shape, allowZero: true), [value], output: c.temp("\(tag)R")))
            return c.temp("\(tag)R")
        }
        let lhs = arrange(node.inputs[0], a, batch + mLetters + kLetters, batch.map { size($0, a, sa) } + [m, k], "a")
        let rhs = arrange(node.inputs[1], b, batch + kLetters + nLetters, batch.map { size($0, b, sb) } + [k, n], "b")
        steps.append(c.step(MatMul(), [lhs, rhs], output: c.temp("mm")))
        let produced = batch + mLetters + nLetters
        let producedShape = batch.map { max(size($0, a, sa), size($0, b, sb)) } + mLetters.map { size($0, a, sa) }
            + nLetters.map { size($0, b, sb) }
        let perm = out.map { produced.firstIndex(of: $0)! }
        if perm == Array(perm.indices) {
            steps.append(c.step(Reshape(shape: producedShape, allowZero: true), [c.temp("mm")]))
        } else {
            steps.append(c.step(Reshape(shape: producedShape, allowZero: true), [c.temp("mm")], output: c.temp("out")))
            steps.append(c.step(Transpose(perm: perm), [c.temp("out")]))
        }
        return steps
    }
}
