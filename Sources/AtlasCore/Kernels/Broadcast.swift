/// Numpy-style broadcasting: shape rules, a segment iterator over broadcast operands, and the
/// deterministic sum that takes a broadcast gradient back to an input's shape.

/// Unaligned 8-lane loads and stores on raw float pointers.
@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) @usableFromInline
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) @usableFromInline
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Checks the number of inputs a layer receives.
@inline(__always)
func expectInputCount(_ inputs: [[Int]], _ n: Int, _ op: String) throws {
    guard inputs.count == n else {
        throw ShapeError("\(op) expects \(n) input\(n == 1 ? "" : "s"), got \(inputs.count)")
    }
}

/// Normalises an axis in `-rank..<rank` (or `-rank...rank` when `inclusive`) to a non-negative index.
func normalizedAxis(_ axis: Int, rank: Int, op: String, inclusive: Bool = false) throws -> Int {
    let upper = inclusive ? rank : rank - 1
    guard axis >= -rank && axis <= upper else {
        throw ShapeError("\(op): axis \(axis) out of range for rank \(rank)")
    }
    return axis < 0 ? axis + rank : axis
}

public enum Broadcast {
    /// Elements per parallel chunk for memory-bound elementwise work.
    public static let grain = 32_768

    /// The numpy broadcast of two shapes (dimensions aligned from the right; equal or 1).
    public static func shape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
                throw ShapeError("shapes \(a) and \(b) are not broadcastable (dimension \(i): \(da) vs \(db))")
            }
        }
        return out
    }

    /// Strides of `shape` (contiguous) aligned to `outShape`: 0 along broadcast (size-1 or missing) dimensions.
    public static func alignedStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
        let r = outShape.count
        let own = contiguousStrides(shape)
        var s = [Int](repeating: 0, count: r)
        for i in 0..<shape.count where shape[i] != 1 { s[r - shape.count + i] = own[i] }
        return s
    }

    /// Sum of `t` over broadcast dimensions, giving a tensor of `shape` (which must broadcast to `t.shape`).
    /// Each result element is summed in the same order whatever the thread count.
    public static func reduce(_ t: Tensor, to shape: [Int]) -> Tensor {
        if Tensor.elementCount(shape) == t.count {
            let result = Tensor(uninitialized: shape)
            result.data.update(from: t.data, count: t.count)
            return result
        }
        let result = Tensor(zeros: shape)
        if t.count == 0 { return result }
        // Collapse into dims flagged kept (result stride ≠ 0) or reduced, merging neighbours of the same kind.
        let rs = alignedStrides(shape, to: t.shape)
        var dims = [Int](), kept = [Bool]()
        for i in 0..<t.shape.count where t.shape[i] != 1 {
            let k = rs[i] != 0
            if let last = kept.last, last == k { dims[dims.count - 1] *= t.shape[i] } else {
                dims.append(t.shape[i]); kept.append(k)
            }
        }
        let tStrides = contiguousStrides(dims)
        let keptDims = zip(dims, kept).filter { $0.1 }.map { $0.0 }
        let keptT = zip(tStrides, kept).filter { $0.1 }.map { $0.0 }
        let redDims = zip(dims, kept).filter { !$0.1 }.map { $0.0 }
        let redT = zip(tStrides, kept).filter { !$0.1 }.map { $0.0 }
        let src = UnsafePointer(t.data), dst = result.data
        let resultCount = result.count
        let reducedCount = t.count / max(resultCount, 1)

        if kept.last == false {
            // Innermost dimension is summed: each result element adds up contiguous rows.
            let row = redDims.last!
            let outerDims = Array(redDims.dropLast()), outerT = Array(redT.dropLast())
            let outerCount = reducedCount / row
            let block = max(1, grain / max(reducedCount, 1))
            Parallel.forRanges(resultCount, grain: block) { range in
                for r in range {
                    let base = offset(of: r, dims: keptDims, strides: keptT)
                    var s: Float = 0
                    for q in 0..<outerCount {
                        s += rowSum(src + base + offset(of: q, dims: outerDims, strides: outerT), row)
                    }
                    dst[r] = s
                }
            }
        } else {
            // Innermost dimension is kept: add whole rows, tiled along the row.
            let row = keptDims.last!
            let outerDims = Array(keptDims.dropLast()), outerT = Array(keptT.dropLast())
            let rowsOut = resultCount / row
            let tile = 2048
            let tiles = (row + tile - 1) / tile
            Parallel.forEach(rowsOut * tiles) { job in
                let k = job / tiles, c0 = (job % tiles) * tile, c1 = min(row, c0 + tile)
                let base = offset(of: k, dims: outerDims, strides: outerT)
                let d = dst + k * row
                for q in 0..<reducedCount {
                    let s = src + base + offset(of: q, dims: redDims, strides: redT)
                    var c = c0
                    while c + 8 <= c1 { store8(load8(d + c) + load8(s + c), d + c); c += 8 }
                    while c < c1 { d[c] += s[c]; c += 1 }
                }
            }
        }
        return result
    }

    /// `t` repeated along broadcast dimensions to `shape` (t's shape must broadcast to it).
    public static func expand(_ t: Tensor, to shape: [Int]) -> Tensor {
        let out = Tensor(zeros: shape)
        let plan = Plan(out: shape, a: t.shape, b: t.shape)
        let src = UnsafePointer(t.data), dst = out.data
        plan.run { o, oa, _, n, sa, _ in
            if sa == 1 { (dst + o).update(from: src + oa, count: n) } else { (dst + o).update(repeating: src[oa], count: n) }
        }
        return out
    }

    /// Offset of flat index `i` over `dims` (row-major) with per-dimension `strides`.
    @inline(__always) static func offset(of i: Int, dims: [Int], strides: [Int]) -> Int {
        var rest = i, off = 0
        var d = dims.count - 1
        while d >= 0 {
            let n = dims[d]
            off += (rest % n) * strides[d]
            rest /= n
            d -= 1
        }
        return off
    }

    /// Sum of `n` contiguous floats with eight fixed-order partial sums.
    @inline(__always) static func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n { acc += load8(p + i); i += 8 }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// Iteration over a broadcast output with two operands, as contiguous output segments.
    ///
    /// Dimensions are collapsed where both operands are contiguous (or both broadcast) across them, so the
    /// innermost segment has operand strides of 0 (broadcast) or 1 (contiguous).
    public struct Plan {
        public let count: Int
        var dims: [Int] = []
        var sa: [Int] = []
        var sb: [Int] = []

        public init(out: [Int], a: [Int], b: [Int]) {
            count = Tensor.elementCount(out)
            let fa = Broadcast.alignedStrides(a, to: out), fb = Broadcast.alignedStrides(b, to: out)
            for i in 0..<out.count where out[i] != 1 {
                if let last = dims.indices.last,
                   sa[last] == fa[i] * out[i], sb[last] == fb[i] * out[i],
                   (fa[i] == 0) == (sa[last] == 0), (fb[i] == 0) == (sb[last] == 0) {
                    dims[last] *= out[i]; sa[last] = fa[i]; sb[last] = fb[i]
                } else {
                    dims.append(out[i]); sa.append(fa[i]); sb.append(fb[i])
                }
            }
            if dims.isEmpty { dims = [1]; sa = [count == 1 ? 0 : 1]; sb = sa }
        }

        /// Calls `body(outOffset, aOffset, bOffset, n, aStride, bStride)` for contiguous output segments of at
        /// most `n` elements, in parallel over fixed chunks of the output.
        public func run(_ body: (Int, Int, Int, Int, Int, Int) -> Void) {
            let inner = dims[dims.count - 1]
            let ia = sa[dims.count - 1], ib = sb[dims.count - 1]
            let outerDims = Array(dims.dropLast()), outerA = Array(sa.dropLast()), outerB = Array(sb.dropLast())
            Parallel.forRanges(count, grain: Broadcast.grain) { range in
                var pos = range.lowerBound
                while pos < range.upperBound {
                    let row = pos / inner, col = pos % inner
                    let n = min(inner - col, range.upperBound - pos)
                    let oa = Broadcast.offset(of: row, dims: outerDims, strides: outerA) + col * ia
                    let ob = Broadcast.offset(of: row, dims: outerDims, strides: outerB) + col * ib
                    body(pos, oa, ob, n, ia, ib)
                    pos += n
                }
            }
        }
    }
}
