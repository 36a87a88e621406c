import AtlasCore

/// Lowering of data-movement ops, softmax and reductions. Reshape-like ops (Reshape, Squeeze, Unsqueeze)
/// become a `Reshape` to the concrete target shape, which is known once the input shape is fixed.
extension Lowering {
    static func lowerShapeOp(_ c: Context) throws -> [Step] {
        let node = c.node, s = c.xShape
        switch node.opType {
        case "Flatten":
            let a = try c.axis(try node.int("axis", default: 1), rank: s.count, inclusive: true)
            return [c.step(Flatten(axis: a))]
        case "Reshape":
            let target = try ConstantEvaluator.reshapeTarget(node, input: s, target: try c.requireConstant(1).ints,
                                                             allowZero: try node.int("allowzero", default: 0) != 0)
            return [c.step(Reshape(shape: target))]
        case "Squeeze":
            let given = node.opset >= 13 ? (node.input(1) == nil ? nil : try c.requireConstant(1).ints) : try node.ints("axes")
            let axes = try Set((given ?? s.indices.filter { s[$0] == 1 }).map { try c.axis($0, rank: s.count) })
            for a in axes where s[a] != 1 { throw node.invalid("cannot squeeze axis \(a) of size \(s[a]) in \(s)") }
            return [c.step(Reshape(shape: s.indices.filter { !axes.contains($0) }.map { s[$0] }, allowZero: true))]
        case "Unsqueeze":
            guard let given = node.opset >= 13 ? try c.requireConstant(1).ints : try node.ints("axes") else {
                throw node.invalid("missing axes")
            }
            let rank = s.count + given.count
            let axes = Set(try given.map { try c.axis($0, rank: rank) })
            guard axes.count == given.count else { throw node.invalid("repeated axes \(given)") }
            var dims = s.makeIterator()
            return [c.step(Reshape(shape: (0..<rank).map { axes.contains($0) ? 1 : dims.next() ?? 1 }, allowZero: true))]
        case "Transpose":
            let perm = try node.ints("perm") ?? Array(s.indices.reversed())
            guard perm.count == s.count, Set(try perm.map { try c.axis($0, rank: s.count) }).count == s.count else {
                throw node.invalid("invalid perm \(perm) for rank \(s.count)")
            }
            return [c.step(Transpose(perm: perm.map { $0 < 0 ? $0 + s.count : $0 }))]
        case "Slice":
            if node.opset < 10 {
                guard let starts = try node.ints("starts"), let ends = try node.ints("ends") else { throw node.invalid("missing starts/ends") }
                let axes = try node.ints("axes") ?? Array(0..<starts.count)
                return [c.step(Slice(starts: starts, ends: ends, axes: axes, steps: [Int](repeating: 1, count: starts.count)))]
            }
            let starts = try c.requireConstant(1).ints, ends = try c.requireConstant(2).ints
            let axes = node.input(3) == nil ? Array(0..<starts.count) : try c.requireConstant(3).ints
            let steps = node.input(4) == nil ? [Int](repeating: 1, count: starts.count) : try c.requireConstant(4).ints
            guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
                throw node.invalid("starts, ends, axes and steps differ in length")
            }
            return [c.step(Slice(starts: starts, ends: ends, axes: axes, steps: steps))]
        case "Split": return try lowerSplit(c)
        case "Softmax", "LogSoftmax":
            let layerAxis: (Int) -> Layer = { node.opType == "Softmax" ? Softmax(axis: $0) : LogSoftmax(axis: $0) }
            let a = try c.axis(try node.int("axis", default: node.opset >= 13 ? -1 : 1), rank: s.count)
            if node.opset >= 13 || a == s.count - 1 { return [c.step(layerAxis(a))] }
            // Before opset 13 the op normalizes over all axes from `axis` on (the input flattened to 2-D).
            return c.wrapped(layerAxis(1), inShape: [s[..<a].reduce(1, *), s[a...].reduce(1, *)], outShape: s)
        case "ReduceMean", "ReduceSum":
            let fromInput = node.opType == "ReduceSum" ? node.opset >= 13 : node.opset >= 18
            let given = fromInput ? (node.input(1) == nil ? nil : try c.requireConstant(1).ints) : try node.ints("axes")
            let keep = try node.int("keepdims", default: 1) != 0
            if (given ?? []).isEmpty, try node.int("noop_with_empty_axes", default: 0) != 0 { return [c.step(Identity())] }
            let axes = try (given ?? []).map { try c.axis($0, rank: s.count) }
            return [c.step(node.opType == "ReduceMean" ? ReduceMean(axes: axes, keepDims: keep) : ReduceSum(axes: axes, keepDims: keep) as Layer)]
        default:
            throw ModelError.unsupportedOp(op: node.opType, node: node.name, domain: node.domain, opset: node.opset)
        }
    }

    /// Split → one Slice per output.
    static func lowerSplit(_ c: Context) throws -> [Step] {
        let node = c.node, s = c.xShape
        let a = try c.axis(try node.int("axis", default: 0), rank: s.count)
        let n = node.outputs.count
        var sizes: [Int]
        if node.opset >= 13, node.input(1) != nil {
            sizes = try c.requireConstant(1).ints
        } else if node.opset < 13, let attr = try node.ints("split") {
            sizes = attr
        } else {
            let parts = node.opset >= 18 ? try node.int("num_outputs", default: n) : n
            guard parts > 0 else { throw node.invalid("cannot split into \(parts) parts") }
            let chunk = (s[a] + parts - 1) / parts
            sizes = (0..<parts).map { max(0, min(chunk, s[a] - $0 * chunk)) }
        }
        guard sizes.count == n, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == s[a] else {
            throw node.invalid("split sizes \(sizes) do not fit \(n) outputs of dimension \(s[a])")
        }
        var start = 0
        var steps: [Step] = []
        for (k, size) in sizes.enumerated() {
            if !node.outputs[k].isEmpty {
                steps.append(c.step(Slice(starts: [start], ends: [start + size], axes: [a], steps: [1]), output: node.outputs[k]))
            }
            start += size
        }
        return steps
    }
}
