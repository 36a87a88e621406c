/// The constant evaluator's working value: a shape plus Float or Int elements, with numpy broadcasting.
/// Small and simple: shape subgraphs are a handful of integers, constant weight arithmetic a few million floats.
struct CValue {
    enum Elements {
        case f([Float])
        case i([Int])
    }
    var shape: [Int]
    var elements: Elements

    init(shape: [Int], _ e: Elements) {
        self.shape = shape
        elements = e
    }
    init(_ c: Constant) {
        shape = c.shape
        switch c.storage {
        case let .float(t): elements = .f(t.toArray())
        case let .int(v): elements = .i(v)
        }
    }
    static func ints(_ v: [Int], shape: [Int]? = nil) -> CValue { CValue(shape: shape ?? [v.count], .i(v)) }
    static func floats(_ v: [Float], shape: [Int]) -> CValue { CValue(shape: shape, .f(v)) }

    var constant: Constant {
        switch elements {
        case let .f(v): return Constant(shape: shape, floats: v)
        case let .i(v): return Constant(shape: shape, ints: v)
        }
    }
    var count: Int { shape.reduce(1, *) }
    var isFloat: Bool { if case .f = elements { return true } else { return false } }
    var ints: [Int] {
        switch elements {
        case let .i(v): return v
        case let .f(v): return v.map { $0.isFinite && abs($0) < 9.2e18 ? Int($0) : 0 }
        }
    }
    var floats: [Float] {
        switch elements {
        case let .f(v): return v
        case let .i(v): return v.map { Float($0) }
        }
    }

    /// Picks elements by flat index (same element kind).
    func gather(_ indices: [Int], shape newShape: [Int]) -> CValue {
        switch elements {
        case let .f(v): return CValue(shape: newShape, .f(indices.map { v[$0] }))
        case let .i(v): return CValue(shape: newShape, .i(indices.map { v[$0] }))
        }
    }
}

enum ConstBroadcast {
    /// Numpy broadcast of several shapes, or nil when they do not fit.
    static func shape(_ shapes: [[Int]]) -> [Int]? {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let pad = rank - s.count
            for (k, d) in s.enumerated() {
                let j = k + pad
                if out[j] == 1 { out[j] = d } else if d != 1 && d != out[j] { return nil }
            }
        }
        return out
    }

    /// Flat index into each input for every output element, in row-major output order.
    static func indices(_ shapes: [[Int]], out: [Int]) -> [[Int]] {
        let total = out.reduce(1, *)
        return shapes.map { s in
            let pad = out.count - s.count
            var strides = [Int](repeating: 0, count: out.count)
            var acc = 1
            for k in stride(from: s.count - 1, through: 0, by: -1) {
                if s[k] != 1 { strides[k + pad] = acc }
                acc *= s[k]
            }
            var idx = [Int](repeating: 0, count: total)
            var counter = [Int](repeating: 0, count: out.count)
            var offset = 0
            for e in 0..<total {
                idx[e] = offset
                var d = out.count - 1
                while d >= 0 {
                    counter[d] += 1
                    offset += strides[d]
                    if counter[d] < out[d] { break }
                    offset -= strides[d] * counter[d]
                    counter[d] = 0
                    d -= 1
                }
            }
            return idx
        }
    }
}

/// Row-major permutation of a shape: flat source index of each destination element.
func transposeIndices(_ shape: [Int], perm: [Int]) -> (shape: [Int], indices: [Int]) {
    let outShape = perm.map { shape[$0] }
    let srcStrides = contiguousStridesOf(shape)
    let permuted = perm.map { srcStrides[$0] }
    let total = shape.reduce(1, *)
    var idx = [Int](repeating: 0, count: total)
    var counter = [Int](repeating: 0, count: outShape.count)
    var offset = 0
    for e in 0..<total {
        idx[e] = offset
        var d = outShape.count - 1
        while d >= 0 {
            counter[d] += 1
            offset += permuted[d]
            if counter[d] < outShape[d] { break }
            offset -= permuted[d] * counter[d]
            counter[d] = 0
            d -= 1
        }
    }
    return (outShape, idx)
}

func contiguousStridesOf(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = acc
        acc *= shape[i]
    }
    return strides
}
