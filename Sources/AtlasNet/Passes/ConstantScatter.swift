extension ConstantEvaluator {
    /// ScatterND on constants (Swin's shifted-window attention mask is built by slice assignments, which torch exports
    /// as ScatterND): a copy of `data` with the slices addressed by the last axis of `indices` replaced by (or, with
    /// `reduction` add/mul/max/min, combined with) `updates`, in index order.
    static func scatterND(_ node: Node, _ data: CValue, _ indices: CValue, _ updates: CValue) throws -> CValue {
        let reduction = try node.string("reduction", default: "none")
        guard let k = indices.shape.last, k >= 1, k <= data.shape.count else {
            throw node.invalid("indices \(indices.shape) do not address data \(data.shape)")
        }
        let tuples = indices.count / k, slice = data.shape[k...].reduce(1, *)
        guard updates.shape == Array(indices.shape.dropLast()) + Array(data.shape[k...]) else {
            throw node.invalid("updates \(updates.shape) do not match indices \(indices.shape) and data \(data.shape)")
        }
        let strides = contiguousStridesOf(data.shape), idx = indices.ints
        var offsets: [Int] = []
        for t in 0..<tuples {
            var o = 0
            for d in 0..<k {
                let i = idx[t * k + d], r = i < 0 ? i + data.shape[d] : i
                guard r >= 0, r < data.shape[d] else { throw node.invalid("index \(i) out of range for dimension \(data.shape[d])") }
                o += r * strides[d]
            }
            offsets.append(o)
        }
        func apply<T>(_ out: inout [T], _ up: [T], _ combine: (T, T) -> T) {
            for (t, o) in offsets.enumerated() { for e in 0..<slice { out[o + e] = combine(out[o + e], up[t * slice + e]) } }
        }
        if data.isFloat || updates.isFloat {
            var out = data.floats
            let f: (Float, Float) -> Float
            switch reduction {
            case "none": f = { $1 }
            case "add": f = { $0 + $1 }
            case "mul": f = { $0 * $1 }
            case "max": f = { Swift.max($0, $1) }
            case "min": f = { Swift.min($0, $1) }
            default: throw node.invalid("unknown reduction '\(reduction)'")
            }
            apply(&out, updates.floats, f)
            return .floats(out, shape: data.shape)
        }
        var out = data.ints
        let f: (Int, Int) -> Int
        switch reduction {
        case "none": f = { $1 }
        case "add": f = { $0 &+ $1 }
        case "mul": f = { $0 &* $1 }
        case "max": f = { Swift.max($0, $1) }
        case "min": f = { Swift.min($0, $1) }
        default: throw node.invalid("unknown reduction '\(reduction)'")
        }
        apply(&out, updates.ints, f)
        return .ints(out, shape: data.shape)
    }
}
