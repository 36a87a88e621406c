import Foundation

/// Elementwise, reduction, range and reshape rules of the constant evaluator.
extension ConstantEvaluator {
    static func binary(_ node: Node, _ a: CValue, _ b: CValue, compare: Bool) throws -> CValue {
        guard let out = ConstBroadcast.shape([a.shape, b.shape]) else {
            throw node.invalid("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        _ = try ModelLimits.elementCount(out, tensor: node.name)
        let idx = ConstBroadcast.indices([a.shape, b.shape], out: out)
        let (ia, ib) = (idx[0], idx[1])
        let op = node.opType
        if a.isFloat || b.isFloat {
            let av = a.floats, bv = b.floats
            if compare {
                let f: (Float, Float) -> Bool
                switch op {
                case "Equal": f = { $0 == $1 }
                case "Less": f = { $0 < $1 }
                case "Greater": f = { $0 > $1 }
                case "LessOrEqual": f = { $0 <= $1 }
                case "GreaterOrEqual": f = { $0 >= $1 }
                case "And": f = { $0 != 0 && $1 != 0 }
                case "Or": f = { $0 != 0 || $1 != 0 }
                default: f = { ($0 != 0) != ($1 != 0) }
                }
                return .ints(ia.indices.map { f(av[ia[$0]], bv[ib[$0]]) ? 1 : 0 }, shape: out)
            }
            let f: (Float, Float) -> Float
            switch op {
            case "Add", "Sum": f = { $0 + $1 }
            case "Sub": f = { $0 - $1 }
            case "Mul": f = { $0 * $1 }
            case "Div": f = { $0 / $1 }
            case "Mod":   // float Mod requires fmod = 1 (C semantics)
                f = { fmodf($0, $1) }
            case "Pow": f = { powf($0, $1) }
            case "Max": f = { Swift.max($0, $1) }
            default: f = { Swift.min($0, $1) }
            }
            return .floats(ia.indices.map { f(av[ia[$0]], bv[ib[$0]]) }, shape: out)
        }
        let av = a.ints, bv = b.ints
        if compare {
            let f: (Int, Int) -> Bool
            switch op {
            case "Equal": f = { $0 == $1 }
            case "Less": f = { $0 < $1 }
            case "Greater": f = { $0 > $1 }
            case "LessOrEqual": f = { $0 <= $1 }
            case "GreaterOrEqual": f = { $0 >= $1 }
            case "And": f = { $0 != 0 && $1 != 0 }
            case "Or": f = { $0 != 0 || $1 != 0 }
            default: f = { ($0 != 0) != ($1 != 0) }
            }
            return .ints(ia.indices.map { f(av[ia[$0]], bv[ib[$0]]) ? 1 : 0 }, shape: out)
        }
        if op == "Div" || op == "Mod", bv.contains(0) { throw node.invalid("integer division by zero") }
        let cMod = try op == "Mod" && node.int("fmod", default: 0) != 0
        let f: (Int, Int) -> Int
        switch op {
        case "Add", "Sum": f = { $0 &+ $1 }
        case "Sub": f = { $0 &- $1 }
        case "Mul": f = { $0 &* $1 }
        case "Div": f = { $0 / $1 }
        case "Mod":   // fmod = 0: the sign of the divisor, like Python; fmod = 1: the sign of the dividend, like C
            f = { let r = $0 % $1; return !cMod && r != 0 && (r < 0) != ($1 < 0) ? r + $1 : r }
        case "Pow": f = { base, e in e < 0 ? 0 : (0..<Swift.min(e, 64)).reduce(1) { acc, _ in acc &* base } }
        case "Max": f = { Swift.max($0, $1) }
        default: f = { Swift.min($0, $1) }
        }
        return .ints(ia.indices.map { f(av[ia[$0]], bv[ib[$0]]) }, shape: out)
    }

    static func unary(_ node: Node, _ a: CValue) throws -> CValue {
        if case let .i(v) = a.elements, node.opType == "Neg" || node.opType == "Abs" || node.opType == "Relu" {
            switch node.opType {
            case "Neg": return .ints(v.map { 0 &- $0 }, shape: a.shape)
            case "Abs": return .ints(v.map { $0 == .min ? .max : Swift.abs($0) }, shape: a.shape)
            default: return .ints(v.map { Swift.max($0, 0) }, shape: a.shape)
            }
        }
        if !a.isFloat && (node.opType == "Floor" || node.opType == "Ceil") { return a }
        let f: (Float) -> Float
        switch node.opType {
        case "Neg": f = { -$0 }
        case "Abs": f = { Swift.abs($0) }
        case "Floor": f = { $0.rounded(.down) }
        case "Ceil": f = { $0.rounded(.up) }
        case "Sqrt": f = { $0.squareRoot() }
        case "Reciprocal": f = { 1 / $0 }
        case "Exp": f = { expf($0) }
        default: f = { Swift.max($0, 0) }
        }
        return .floats(a.floats.map(f), shape: a.shape)
    }

    static func range(_ node: Node, _ start: CValue, _ limit: CValue, _ delta: CValue) throws -> CValue {
        if start.isFloat || limit.isFloat || delta.isFloat {
            let s = Double(start.floats.first ?? 0), l = Double(limit.floats.first ?? 0), d = Double(delta.floats.first ?? 0)
            guard d != 0 else { throw node.invalid("delta is zero") }
            let n = Swift.max(Int(((l - s) / d).rounded(.up)), 0)
            _ = try ModelLimits.elementCount([n], tensor: node.name)
            return .floats((0..<n).map { Float(s + Double($0) * d) }, shape: [n])
        }
        let s = start.ints.first ?? 0, l = limit.ints.first ?? 0, d = delta.ints.first ?? 0
        guard d != 0 else { throw node.invalid("delta is zero") }
        let span = l - s
        let n = Swift.max(span / d + ((span % d != 0 && (span < 0) == (d < 0)) ? 1 : 0), 0)
        _ = try ModelLimits.elementCount([n], tensor: node.name)
        return .ints((0..<n).map { s + $0 * d }, shape: [n])
    }

    /// ONNX Reshape target: 0 copies the input dimension (unless allowzero), one -1 is inferred.
    public static func reshapeTarget(_ node: Node, input: [Int], target: [Int], allowZero: Bool) throws -> [Int] {
        var shape = target
        var inferred: Int?
        for (i, d) in target.enumerated() {
            if d == 0 && !allowZero {
                guard i < input.count else { throw node.invalid("shape \(target) copies dimension \(i) of \(input)") }
                shape[i] = input[i]
            } else if d == -1 {
                guard inferred == nil else { throw node.invalid("shape \(target) has more than one -1") }
                inferred = i
            } else if d < 0 {
                throw node.invalid("invalid shape \(target)")
            }
        }
        let total = input.reduce(1, *)
        if let k = inferred {
            let known = shape.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *)
            guard known > 0, total % known == 0 else { throw node.invalid("cannot reshape \(input) to \(target)") }
            shape[k] = total / known
        }
        guard shape.reduce(1, *) == total else { throw node.invalid("cannot reshape \(input) to \(target)") }
        return shape
    }

    static func reduce(_ node: Node, _ x: [CValue?]) throws -> CValue {
        guard let data = x.first ?? nil else { throw node.invalid("missing data") }
        let rank = data.shape.count
        let axesFromInput = node.opType == "ReduceSum" ? node.opset >= 13 : node.opset >= 18
        let given = axesFromInput ? (x.count > 1 ? x[1]?.ints : nil) : try node.ints("axes")
        let keep = try node.int("keepdims", default: 1) != 0
        if given == nil || given == [], try node.int("noop_with_empty_axes", default: 0) != 0 { return data }
        let axes = try Set((given.flatMap { $0.isEmpty ? nil : $0 } ?? Array(0..<rank)).map { a -> Int in
            let r = a < 0 ? a + rank : a
            guard r >= 0 && r < rank else { throw node.invalid("axis \(a) out of range") }
            return r
        })
        let outFull = data.shape.indices.map { axes.contains($0) ? 1 : data.shape[$0] }
        let outStrides = contiguousStridesOf(outFull)
        let total = outFull.reduce(1, *)
        let shapeOut = keep ? outFull : data.shape.indices.filter { !axes.contains($0) }.map { data.shape[$0] }
        // Map each input element to its output slot.
        var slot = [Int](repeating: 0, count: data.count)
        var counter = [Int](repeating: 0, count: rank)
        for e in 0..<data.count {
            var s = 0
            for d in 0..<rank where !axes.contains(d) { s += counter[d] * outStrides[d] }
            slot[e] = s
            var d = rank - 1
            while d >= 0 { counter[d] += 1; if counter[d] < data.shape[d] { break }; counter[d] = 0; d -= 1 }
        }
        let n = data.count / Swift.max(total, 1)
        switch (data.elements, node.opType) {
        case let (.i(v), op) where op != "ReduceMean":
            var out = [Int](repeating: op == "ReduceProd" ? 1 : op == "ReduceMin" ? .max : op == "ReduceMax" ? .min : 0, count: total)
            for (e, s) in slot.enumerated() {
                switch op {
                case "ReduceProd": out[s] = out[s] &* v[e]
                case "ReduceMin": out[s] = Swift.min(out[s], v[e])
                case "ReduceMax": out[s] = Swift.max(out[s], v[e])
                default: out[s] = out[s] &+ v[e]
                }
            }
            return .ints(out, shape: shapeOut)
        case (_, let op):
            let v = data.floats
            var out = [Float](repeating: op == "ReduceProd" ? 1 : op == "ReduceMin" ? .infinity : op == "ReduceMax" ? -.infinity : 0,
                              count: total)
            for (e, s) in slot.enumerated() {
                switch op {
                case "ReduceProd": out[s] *= v[e]
                case "ReduceMin": out[s] = Swift.min(out[s], v[e])
                case "ReduceMax": out[s] = Swift.max(out[s], v[e])
                default: out[s] += v[e]
                }
            }
            if op == "ReduceMean" { out = out.map { $0 / Float(Swift.max(n, 1)) } }
            return .floats(out, shape: shapeOut)
        }
    }
}
