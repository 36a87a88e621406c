import AtlasCore

/// Evaluates ONNX ops on constant inputs at load time (shape subgraphs and constant arithmetic), so that
/// exporter-generated `Shape → Gather → Unsqueeze → Concat → Reshape` chains become plain constants.
public enum ConstantEvaluator {
    /// Ops this evaluator computes (If and Shape on runtime values are handled by the folding pass).
    public static let supportedOps: Set<String> = [
        "Constant", "Identity", "Shape", "Size", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze",
        "ConstantOfShape", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not",
        "Where", "Cast", "Range", "Add", "Sub", "Mul", "Div", "Mod", "Pow", "Max", "Min", "Sum", "Neg", "Abs",
        "Floor", "Ceil", "Sqrt", "Reciprocal", "Exp", "Relu", "Reshape", "Flatten", "Transpose", "Expand", "Tile",
        "ReduceProd", "ReduceSum", "ReduceMin", "ReduceMax", "ReduceMean", "ScatterND",
    ]

    /// Outputs of `node` for constant `inputs` (nil entries = omitted optional inputs), or nil when the op is
    /// not one this evaluator handles. Throws `invalidNode` for inputs that break the op's rules.
    public static func evaluate(_ node: Node, inputs: [Constant?]) throws -> [Constant]? {
        guard node.domain.isEmpty, supportedOps.contains(node.opType) else { return nil }
        let values = inputs.map { $0.map(CValue.init) }
        guard let out = try evaluate(node, values) else { return nil }
        _ = try ModelLimits.elementCount(out.shape, tensor: node.outputs.first ?? node.name)
        return [out.constant]
    }

    static func evaluate(_ node: Node, _ x: [CValue?]) throws -> CValue? {
        func arg(_ i: Int) throws -> CValue {
            guard i < x.count, let v = x[i] else { throw node.invalid("missing input \(i)") }
            return v
        }
        func optionalInts(_ i: Int) -> [Int]? { i < x.count ? x[i]?.ints : nil }
        func axis(_ a: Int, rank: Int) throws -> Int {
            let r = a < 0 ? a + rank : a
            guard r >= 0 && r < max(rank, 1) else { throw node.invalid("axis \(a) out of range for rank \(rank)") }
            return r
        }
        switch node.opType {
        case "Constant": return try constantAttribute(node)
        case "Identity": return try arg(0)
        case "Shape":
            let s = try arg(0).shape
            let (start, end) = try shapeRange(node, rank: s.count)
            return .ints(Array(s[start..<max(start, end)]))
        case "Size": return .ints([try arg(0).count], shape: [])
        case "Gather": return try gather(node, try arg(0), try arg(1))
        case "Slice": return try slice(node, x)
        case "Concat":
            let parts = x.compactMap { $0 }
            guard let first = parts.first else { throw node.invalid("no inputs") }
            let a = try axis(try node.int("axis"), rank: first.shape.count)
            return try concat(node, parts, axis: a)
        case "Unsqueeze":
            let data = try arg(0)
            guard let axes = node.opset >= 13 ? optionalInts(1) : try node.ints("axes") else { throw node.invalid("no axes") }
            let rank = data.shape.count + axes.count
            let norm = Set(try axes.map { try axis($0, rank: rank) })
            guard norm.count == axes.count else { throw node.invalid("repeated axes \(axes)") }
            var dims = data.shape.makeIterator()
            let shape = (0..<rank).map { norm.contains($0) ? 1 : dims.next()! }
            return CValue(shape: shape, data.elements)
        case "Squeeze":
            let data = try arg(0)
            let axes = node.opset >= 13 ? optionalInts(1) : try node.ints("axes")
            let norm = try Set((axes ?? data.shape.indices.filter { data.shape[$0] == 1 }).map { try axis($0, rank: data.shape.count) })
            for a in norm where data.shape[a] != 1 { throw node.invalid("cannot squeeze axis \(a) of size \(data.shape[a])") }
            return CValue(shape: data.shape.indices.filter { !norm.contains($0) }.map { data.shape[$0] }, data.elements)
        case "ConstantOfShape":
            let shape = try arg(0).ints
            let n = try ModelLimits.elementCount(shape, tensor: node.outputs.first ?? node.name)
            let fill = try node.tensor("value").map(CValue.init) ?? .floats([0], shape: [1])
            switch fill.elements {
            case let .f(v): return .floats([Float](repeating: v.first ?? 0, count: n), shape: shape)
            case let .i(v): return .ints([Int](repeating: v.first ?? 0, count: n), shape: shape)
            }
        case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor":
            return try binary(node, try arg(0), try arg(1), compare: true)
        case "Add", "Sub", "Mul", "Div", "Mod", "Pow":
            return try binary(node, try arg(0), try arg(1), compare: false)
        case "Max", "Min", "Sum":
            var acc = try arg(0)
            for v in x.dropFirst().compactMap({ $0 }) { acc = try binary(node, acc, v, compare: false) }
            return acc
        case "Not":
            let a = try arg(0)
            return .ints(a.ints.map { $0 == 0 ? 1 : 0 }, shape: a.shape)
        case "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Reciprocal", "Exp", "Relu": return try unary(node, try arg(0))
        case "Where":
            let c = try arg(0), a = try arg(1), b = try arg(2)
            guard let out = ConstBroadcast.shape([c.shape, a.shape, b.shape]) else { throw node.invalid("shapes do not broadcast") }
            let idx = ConstBroadcast.indices([c.shape, a.shape, b.shape], out: out)
            let cv = c.ints
            if a.isFloat || b.isFloat {
                let av = a.floats, bv = b.floats
                return .floats(idx[0].indices.map { cv[idx[0][$0]] != 0 ? av[idx[1][$0]] : bv[idx[2][$0]] }, shape: out)
            }
            let av = a.ints, bv = b.ints
            return .ints(idx[0].indices.map { cv[idx[0][$0]] != 0 ? av[idx[1][$0]] : bv[idx[2][$0]] }, shape: out)
        case "Cast":
            let a = try arg(0)
            let to = try node.int("to")
            switch to {
            case 1, 10, 11, 16: return .floats(a.floats, shape: a.shape)
            case 9: return .ints(a.floats.map { $0 != 0 ? 1 : 0 }, shape: a.shape)
            case 2, 3, 4, 5, 6, 7, 12, 13: return .ints(a.ints, shape: a.shape)
            default: throw node.invalid("cannot cast to type \(to)")
            }
        case "Range": return try range(node, try arg(0), try arg(1), try arg(2))
        case "Reshape":
            let data = try arg(0)
            let shape = try reshapeTarget(node, input: data.shape, target: try arg(1).ints,
                                          allowZero: try node.int("allowzero", default: 0) != 0)
            return CValue(shape: shape, data.elements)
        case "Flatten":
            let data = try arg(0)
            let a = try node.int("axis", default: 1)
            let r = a < 0 ? a + data.shape.count : a
            guard r >= 0 && r <= data.shape.count else { throw node.invalid("axis \(a) out of range") }
            return CValue(shape: [data.shape[..<r].reduce(1, *), data.shape[r...].reduce(1, *)], data.elements)
        case "Transpose":
            let data = try arg(0)
            let perm = try node.ints("perm") ?? Array(data.shape.indices.reversed())
            guard perm.sorted() == Array(data.shape.indices) else { throw node.invalid("invalid perm \(perm)") }
            let (shape, idx) = transposeIndices(data.shape, perm: perm)
            return data.gather(idx, shape: shape)
        case "Expand":
            let data = try arg(0)
            guard let out = ConstBroadcast.shape([data.shape, try arg(1).ints]) else { throw node.invalid("cannot expand \(data.shape)") }
            _ = try ModelLimits.elementCount(out, tensor: node.name)
            return data.gather(ConstBroadcast.indices([data.shape], out: out)[0], shape: out)
        case "Tile":
            let data = try arg(0)
            let reps = try arg(1).ints
            guard reps.count == data.shape.count, reps.allSatisfy({ $0 >= 0 }) else { throw node.invalid("invalid repeats \(reps)") }
            let out = zip(data.shape, reps).map { $0 * $1 }
            _ = try ModelLimits.elementCount(out, tensor: node.name)
            let strides = contiguousStridesOf(data.shape)
            let idx = (0..<out.reduce(1, *)).map { e -> Int in
                var rem = e, src = 0
                for d in stride(from: out.count - 1, through: 0, by: -1) {
                    src += (rem % out[d]) % data.shape[d] * strides[d]
                    rem /= out[d]
                }
                return src
            }
            return data.gather(idx, shape: out)
        case "ReduceProd", "ReduceSum", "ReduceMin", "ReduceMax", "ReduceMean": return try reduce(node, x)
        case "ScatterND": return try scatterND(node, try arg(0), try arg(1), try arg(2))
        default: return nil
        }
    }

    static func constantAttribute(_ node: Node) throws -> CValue {
        if let t = try node.tensor("value") { return CValue(t) }
        if let a = node.attributes["value_float"], case let .float(f) = a { return .floats([f], shape: []) }
        if let a = node.attributes["value_int"], case let .int(i) = a { return .ints([i], shape: []) }
        if let f = node.attributes["value_floats"], case let .floats(v) = f { return .floats(v, shape: [v.count]) }
        if let f = node.attributes["value_ints"], case let .ints(v) = f { return .ints(v) }
        throw node.invalid("no supported value attribute (sparse and string constants are not supported)")
    }

    /// Clamped [start, end) of Shape's optional start/end attributes (opset 15).
    static func shapeRange(_ node: Node, rank: Int) throws -> (Int, Int) {
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        return (clamp(try node.int("start", default: 0)), clamp(try node.int("end", default: rank)))
    }

    static func gather(_ node: Node, _ data: CValue, _ indices: CValue) throws -> CValue {
        let rank = data.shape.count
        guard rank > 0 else { throw node.invalid("cannot gather from a scalar") }
        let a0 = try node.int("axis", default: 0)
        let a = a0 < 0 ? a0 + rank : a0
        guard a >= 0 && a < rank else { throw node.invalid("axis \(a0) out of range") }
        let dim = data.shape[a]
        let idx = try indices.ints.map { i -> Int in
            let j = i < 0 ? i + dim : i
            guard j >= 0 && j < dim else { throw node.invalid("index \(i) out of range for dimension \(dim)") }
            return j
        }
        let outer = data.shape[..<a].reduce(1, *), inner = data.shape[(a + 1)...].reduce(1, *)
        var flat: [Int] = []
        flat.reserveCapacity(outer * idx.count * inner)
        for o in 0..<outer { for j in idx { for k in 0..<inner { flat.append((o * dim + j) * inner + k) } } }
        return data.gather(flat, shape: Array(data.shape[..<a]) + indices.shape + Array(data.shape[(a + 1)...]))
    }

    static func slice(_ node: Node, _ x: [CValue?]) throws -> CValue {
        guard let data = x.first ?? nil else { throw node.invalid("missing data") }
        let rank = data.shape.count
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if node.opset < 10 {
            guard let s = try node.ints("starts"), let e = try node.ints("ends") else { throw node.invalid("missing starts/ends") }
            (starts, ends, axes, steps) = (s, e, try node.ints("axes"), nil)
        } else {
            guard x.count >= 3, let s = x[1], let e = x[2] else { throw node.invalid("missing starts/ends") }
            (starts, ends) = (s.ints, e.ints)
            axes = x.count > 3 ? x[3]?.ints : nil
            steps = x.count > 4 ? x[4]?.ints : nil
        }
        // The clamping rules are the Slice layer's own (one implementation for runtime and folded slices).
        let spec: (first: [Int], step: [Int], count: [Int])
        do {
            spec = try Slice(starts: starts, ends: ends, axes: axes ?? [], steps: steps ?? []).resolve(data.shape)
        } catch let e as ShapeError {
            throw node.invalid(e.message)
        }
        let strides = contiguousStridesOf(data.shape)
        var flat: [Int] = []
        flat.reserveCapacity(spec.count.reduce(1, *))
        func walk(_ d: Int, _ base: Int) {
            if d == rank { flat.append(base); return }
            for k in 0..<spec.count[d] { walk(d + 1, base + (spec.first[d] + k * spec.step[d]) * strides[d]) }
        }
        if spec.count.allSatisfy({ $0 > 0 }) { walk(0, 0) }
        return data.gather(flat, shape: spec.count)
    }

    static func concat(_ node: Node, _ parts: [CValue], axis: Int) throws -> CValue {
        let ref = parts[0].shape
        for p in parts where p.shape.count != ref.count || p.shape.indices.contains(where: { $0 != axis && p.shape[$0] != ref[$0] }) {
            throw node.invalid("cannot concatenate \(ref) and \(p.shape) on axis \(axis)")
        }
        let outer = ref[..<axis].reduce(1, *)
        var shape = ref
        shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        let chunks = parts.map { $0.count / max(outer, 1) }
        if parts.contains(where: \.isFloat) {
            let vs = parts.map(\.floats)
            var out: [Float] = []
            for o in 0..<outer { for (v, c) in zip(vs, chunks) { out += v[(o * c)..<((o + 1) * c)] } }
            return .floats(out, shape: shape)
        }
        let vs = parts.map(\.ints)
        var out: [Int] = []
        for o in 0..<outer { for (v, c) in zip(vs, chunks) { out += v[(o * c)..<((o + 1) * c)] } }
        return .ints(out, shape: shape)
    }
}
