/// Shape and data-movement ops (ONNX Flatten, Reshape, Identity, Transpose, Slice, Concat).
/// Flatten and Reshape (what Squeeze and Unsqueeze lower to) return views of their input, forward and backward: no
/// layer writes into a tensor once it is made, so a view is never written through. The others return fresh tensors.

/// A fresh copy of `t` under `shape`.
private func copied(_ t: Tensor, as shape: [Int]) -> Tensor {
    let out = Tensor(uninitialized: shape)
    let src = UnsafePointer(t.data), dst = out.data
    Parallel.forRanges(t.count, grain: 1 << 18) { r in (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count) }
    return out
}

/// Reshape to [product of dims before axis, product of the rest]; axis in −rank…rank.
public struct Flatten: Layer {
    public var axis: Int
    public init(axis: Int = 1) { self.axis = axis }
    public var name: String { "Flatten" }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let s = inputs[0]
        let a = try normalizedAxis(axis, rank: s.count, op: name, inclusive: true)
        return [Tensor.elementCount(Array(s[..<a])), Tensor.elementCount(Array(s[a...]))]
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        guard let shape = try? outputShape([inputs[0].shape]) else { preconditionFailure("Flatten: unvalidated shape") }
        return inputs[0].reshaped(shape)
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        [needsGrad.first == true ? gradOutput.reshaped(inputs[0].shape) : nil]
    }
}

/// ONNX Reshape: a 0 copies the input's dimension at that index (unless `allowZero`, where 0 means an empty
/// dimension), and at most one −1 is inferred from the element count.
public struct Reshape: Layer {
    public var shape: [Int]
    public var allowZero: Bool
    public init(shape: [Int], allowZero: Bool = false) { self.shape = shape; self.allowZero = allowZero }
    public var name: String { "Reshape" }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        let input = inputs[0], count = Tensor.elementCount(input)
        guard shape.filter({ $0 == -1 }).count <= 1 else { throw ShapeError("Reshape: more than one −1 in \(shape)") }
        if let bad = shape.first(where: { $0 < -1 }) { throw ShapeError("Reshape: invalid dimension \(bad) in \(shape)") }
        if allowZero && shape.contains(0) && shape.contains(-1) {
            throw ShapeError("Reshape: with allowzero, 0 and −1 cannot both appear in \(shape)")
        }
        var out = shape
        for (i, d) in shape.enumerated() where d == 0 && !allowZero {
            guard i < input.count else { throw ShapeError("Reshape: 0 at index \(i) of \(shape) but the input \(input) has rank \(input.count)") }
            out[i] = input[i]
        }
        if let k = out.firstIndex(of: -1) {
            let known = out.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw ShapeError("Reshape: cannot infer −1 in \(shape) for input \(input) (\(count) elements)")
            }
            out[k] = count / known
        }
        guard Tensor.elementCount(out) == count else {
            throw ShapeError("Reshape: \(input) (\(count) elements) cannot become \(out) (\(Tensor.elementCount(out)) elements)")
        }
        return out
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        guard let s = try? outputShape([inputs[0].shape]) else { preconditionFailure("Reshape: unvalidated shape") }
        return inputs[0].reshaped(s)
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        [needsGrad.first == true ? gradOutput.reshaped(inputs[0].shape) : nil]
    }
}

/// y = x (a copy).
public struct Identity: Layer {
    public init() {}
    public var name: String { "Identity" }
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        return inputs[0]
    }
    public func forward(_ inputs: [Tensor]) -> Tensor { copied(inputs[0], as: inputs[0].shape) }
    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        [needsGrad.first == true ? copied(gradOutput, as: inputs[0].shape) : nil]
    }
}

/// Permutes dimensions: output dimension i is input dimension perm[i] (empty perm reverses them).
public struct Transpose: Layer {
    public var perm: [Int]
    public init(perm: [Int]) { self.perm = perm }
    public var name: String { "Transpose" }

    func permutation(rank: Int) throws -> [Int] {
        if perm.isEmpty { return Array((0..<rank).reversed()) }
        guard perm.count == rank, perm.sorted() == Array(0..<rank) else {
            throw ShapeError("Transpose: perm \(perm) is not a permutation of 0..<\(rank)")
        }
        return perm
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        return try permutation(rank: inputs[0].count).map { inputs[0][$0] }
    }

    static func permute(_ x: Tensor, _ p: [Int]) -> Tensor {
        let out = Tensor(zeros: p.map { x.shape[$0] })
        let xs = contiguousStrides(x.shape)
        Strided.copy(dims: out.shape, src: x.data, srcStrides: p.map { xs[$0] },
                     dst: out.data, dstStrides: contiguousStrides(out.shape))
        return out
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        guard let p = try? permutation(rank: inputs[0].rank) else { preconditionFailure("Transpose: unvalidated perm") }
        return Transpose.permute(inputs[0], p)
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true, let p = try? permutation(rank: inputs[0].rank) else { return [nil] }
        var inverse = p
        for (i, d) in p.enumerated() { inverse[d] = i }
        return [Transpose.permute(gradOutput, inverse)]
    }
}

/// ONNX Slice: per listed axis, start/end (negative counts from the end) clamped to the dimension, with a
/// non-zero step (negative steps walk backwards). Empty `axes` means 0..<starts.count; empty `steps` means 1.
public struct Slice: Layer {
    public var starts: [Int], ends: [Int], axes: [Int], steps: [Int]
    public init(starts: [Int], ends: [Int], axes: [Int] = [], steps: [Int] = []) {
        self.starts = starts; self.ends = ends; self.axes = axes; self.steps = steps
    }
    public var name: String { "Slice" }

    /// First index, step and length along every dimension of `shape` (also what constant folding slices with).
    /// Starts clamp to [0, d] for positive steps and to [0, d − 1] for negative ones; ends to [0, d] and [−1, d − 1].
    public func resolve(_ shape: [Int]) throws -> (first: [Int], step: [Int], count: [Int]) {
        let rank = shape.count
        let ax = axes.isEmpty ? Array(0..<starts.count) : axes
        let st = steps.isEmpty ? [Int](repeating: 1, count: starts.count) : steps
        guard ends.count == starts.count, ax.count == starts.count, st.count == starts.count else {
            throw ShapeError("Slice: starts \(starts), ends \(ends), axes \(axes), steps \(steps) differ in length")
        }
        var first = [Int](repeating: 0, count: rank), step = [Int](repeating: 1, count: rank), count = shape
        var seen = Set<Int>()
        for k in 0..<ax.count {
            let a = try normalizedAxis(ax[k], rank: rank, op: name)
            guard seen.insert(a).inserted else { throw ShapeError("Slice: axis \(ax[k]) appears twice in \(ax)") }
            guard st[k] != 0 else { throw ShapeError("Slice: step 0 on axis \(ax[k])") }
            let d = shape[a]
            var s = starts[k] < 0 ? starts[k] &+ d : starts[k]
            var e = ends[k] < 0 ? ends[k] &+ d : ends[k]
            if st[k] > 0 {
                s = min(max(s, 0), d); e = min(max(e, 0), d)
                count[a] = e > s ? (e - s + st[k] - 1) / st[k] : 0
            } else {
                s = min(max(s, 0), d - 1); e = min(max(e, -1), d - 1)
                count[a] = s > e ? (s - e - st[k] - 1) / -st[k] : 0
            }
            first[a] = count[a] > 0 ? s : 0
            step[a] = st[k]
        }
        return (first, step, count)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        try expectInputCount(inputs, 1, name)
        return try resolve(inputs[0]).count
    }

    /// Offset of the first selected element and the strides of the selection inside the input.
    private func layout(_ shape: [Int]) -> (base: Int, strides: [Int], dims: [Int]) {
        guard let (first, step, count) = try? resolve(shape) else { preconditionFailure("Slice: unvalidated shape \(shape)") }
        let xs = contiguousStrides(shape)
        let base = zip(first, xs).map { $0 * $1 }.reduce(0, +)
        return (base, zip(step, xs).map { $0 * $1 }, count)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let x = inputs[0]
        let (base, strides, dims) = layout(x.shape)
        let out = Tensor(zeros: dims)
        Strided.copy(dims: dims, src: x.data + base, srcStrides: strides, dst: out.data, dstStrides: contiguousStrides(dims))
        return out
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let x = inputs[0]
        let (base, strides, dims) = layout(x.shape)
        let gx = Tensor(zeros: x.shape)
        Strided.copy(dims: dims, src: gradOutput.data, srcStrides: contiguousStrides(dims), dst: gx.data + base, dstStrides: strides)
        return [gx]
    }
}

/// Joins inputs along one axis (negative counts from the end); all other dimensions must match.
public struct Concat: Layer {
    public var axis: Int
    public init(axis: Int) { self.axis = axis }
    public var name: String { "Concat" }
    /// Backward slices the output gradient by the inputs' shapes only.
    public var backwardReads: BackwardReads { [] }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard let first = inputs.first else { throw ShapeError("Concat needs at least one input") }
        let a = try normalizedAxis(axis, rank: first.count, op: name)
        var out = first
        for (k, s) in inputs.enumerated().dropFirst() {
            guard s.count == first.count else { throw ShapeError("Concat: input \(k) has rank \(s.count), input 0 has rank \(first.count)") }
            for d in 0..<s.count where d != a && s[d] != first[d] {
                throw ShapeError("Concat: input \(k) shape \(s) differs from \(first) in dimension \(d) (axis is \(a))")
            }
            out[a] += s[a]
        }
        return out
    }

    /// Outer count, per-input block sizes and offsets inside one output row.
    private func blocks(_ shapes: [[Int]]) -> (outer: Int, sizes: [Int], offsets: [Int], row: Int) {
        let a = axis < 0 ? axis + shapes[0].count : axis
        let outer = Tensor.elementCount(Array(shapes[0][..<a]))
        let inner = Tensor.elementCount(Array(shapes[0][(a + 1)...]))
        let sizes = shapes.map { $0[a] * inner }
        var offsets = [Int](), acc = 0
        for s in sizes { offsets.append(acc); acc += s }
        return (outer, sizes, offsets, acc)
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        guard let shape = try? outputShape(inputs.map(\.shape)) else { preconditionFailure("Concat: unvalidated shapes") }
        let out = Tensor(uninitialized: shape)   // the inputs tile every output row
        let (outer, sizes, offsets, row) = blocks(inputs.map(\.shape))
        let srcs = inputs.map { UnsafePointer($0.data) }, dst = out.data
        let k = inputs.count
        Parallel.forEach(outer * k) { job in
            let o = job / k, i = job % k
            (dst + o * row + offsets[i]).update(from: srcs[i] + o * sizes[i], count: sizes[i])
        }
        return out
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        let (outer, sizes, offsets, row) = blocks(inputs.map(\.shape))
        let grads: [Tensor?] = inputs.indices.map { i in i < needsGrad.count && needsGrad[i] ? Tensor(uninitialized: inputs[i].shape) : nil }
        let dsts = grads.map { $0?.data }, src = UnsafePointer(gradOutput.data)
        let k = inputs.count
        Parallel.forEach(outer * k) { job in
            let o = job / k, i = job % k
            if let d = dsts[i] { (d + o * sizes[i]).update(from: src + o * row + offsets[i], count: sizes[i]) }
        }
        return grads
    }
}
