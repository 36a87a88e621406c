import AtlasCore

/// A batched MatMul that reads its operands and writes its product through strides (the `attention-strides` pass):
/// attention's Transpose → Reshape → … → MatMul → Transpose (the heads' split and merge, Kᵀ) without the whole-tensor
/// copies. Each operand is a view of its input, `[batch…, rows, cols]` with element strides; the product
/// `[batch…, M, N]` lands in the output (of `outputShape`) at `productStrides`. Per batch item, a strided matrix (times
/// its scale, the exporter's √scale Mul) is copied into a cache-sized row-major scratch (reading it straight with the
/// GEMM's leading dimension was slower: rows 4 KiB-multiples apart thrash the caches) and MatMul's own GEMM call runs
/// on it: the bits of MatMul between the Transposes and Muls. The views are one-to-one onto their inputs (checked by
/// the pass): every gradient element is written exactly once.
public struct StridedMatMul: Layer {
    public struct View: Sendable, Equatable {
        public var shape: [Int]
        public var strides: [Int]
        public init(shape: [Int], strides: [Int]) { self.shape = shape; self.strides = strides }
    }

    public let a: View, b: View
    /// A scalar each operand's values are multiplied by as they are read (the √scale Muls on q and Kᵀ), or nil.
    public let aScale: Float?, bScale: Float?
    public let productStrides: [Int]
    public let output: [Int]

    public init(a: View, b: View, aScale: Float? = nil, bScale: Float? = nil, productStrides: [Int], outputShape: [Int]) {
        self.a = a
        self.b = b
        self.aScale = aScale
        self.bScale = bScale
        self.productStrides = productStrides
        self.output = outputShape
    }

    public var name: String { "MatMul" }

    var batchShape: [Int] { Array(a.shape.dropLast(2)) }
    var dims: (m: Int, n: Int, k: Int) { (a.shape[a.shape.count - 2], b.shape[b.shape.count - 1], a.shape[a.shape.count - 1]) }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard inputs.count == 2 else { throw ShapeError("MatMul expects 2 inputs, got \(inputs.count)") }
        for (v, s) in [(a, inputs[0]), (b, inputs[1])] {
            let reach = zip(v.shape, v.strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
            guard v.shape.count >= 3, v.shape.count == v.strides.count, reach < max(Tensor.elementCount(s), 1),
                  Tensor.elementCount(v.shape) == Tensor.elementCount(s) else {
                throw ShapeError("strided MatMul: view \(v.shape) / \(v.strides) does not fit input \(s)")
            }
        }
        guard a.shape.dropLast(2) == b.shape.dropLast(2), a.shape.last == b.shape[b.shape.count - 2],
              productStrides.count == a.shape.count else { throw ShapeError("strided MatMul: views \(a.shape) and \(b.shape) do not multiply") }
        return output
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int {
        let (m, n, k) = dims
        return Tensor.elementCount(batchShape) * m * n * k
    }

    /// One strided matrix: base pointer offset, rows × cols with row and column strides.
    struct Matrix {
        var offset: Int, rows: Int, cols: Int, rowStride: Int, colStride: Int
        var transposed: Matrix { Matrix(offset: offset, rows: cols, cols: rows, rowStride: colStride, colStride: rowStride) }
        var isContiguous: Bool { colStride == 1 && rowStride == cols }
    }

    /// The matrices of batch item `t` of a view.
    func matrix(_ shape: [Int], _ strides: [Int], _ t: Int) -> Matrix {
        var rest = t, offset = 0
        let r = shape.count
        for d in stride(from: r - 3, through: 0, by: -1) {
            offset += (rest % shape[d]) * strides[d]
            rest /= shape[d]
        }
        return Matrix(offset: offset, rows: shape[r - 2], cols: shape[r - 1], rowStride: strides[r - 2], colStride: strides[r - 1])
    }

    /// `m` (times `scale`) as a row-major rows × cols matrix: in place when it is one and unscaled, else copied into
    /// `scratch` (reading along whichever stride is 1): what the Transposes (and the Mul: one rounding of x·s) would
    /// have written, one cache-sized matrix at a time.
    static func contiguous(_ m: Matrix, _ p: UnsafePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                           scale: Float?) -> UnsafePointer<Float> {
        if m.isContiguous && scale == nil { return p + m.offset }
        let src = p + m.offset
        if m.colStride == 1 {
            for r in 0..<m.rows {
                let from = src + r * m.rowStride, to = scratch + r * m.cols
                if let scale { for c in 0..<m.cols { to[c] = from[c] * scale } } else { to.update(from: from, count: m.cols) }
            }
        } else {
            let s = scale ?? 1   // x·1 is x
            for c in 0..<m.cols { for r in 0..<m.rows { scratch[r * m.cols + c] = src[c * m.colStride + r * m.rowStride] * s } }
        }
        return UnsafePointer(scratch)
    }

    /// Where to compute a product bound for `m`: in place when `m` is row-major and unscaled, else `scratch`.
    static func target(_ m: Matrix, _ p: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                       scale: Float?) -> UnsafeMutablePointer<Float> {
        m.isContiguous && scale == nil ? p + m.offset : scratch
    }

    /// Copies the row-major `from` (times `scale`) into `m`'s place; nothing when `target` computed it in place.
    static func scatter(_ from: UnsafePointer<Float>, _ m: Matrix, _ p: UnsafeMutablePointer<Float>, scale: Float?) {
        if m.isContiguous && scale == nil { return }
        let dst = p + m.offset
        if m.colStride == 1 {
            for r in 0..<m.rows {
                let src = from + r * m.cols, to = dst + r * m.rowStride
                if let scale { for c in 0..<m.cols { to[c] = src[c] * scale } } else { to.update(from: src, count: m.cols) }
            }
        } else {
            let s = scale ?? 1
            for c in 0..<m.cols { for r in 0..<m.rows { dst[c * m.colStride + r * m.rowStride] = from[r * m.cols + c] * s } }
        }
    }

    var productShape: [Int] { batchShape + [dims.m, dims.n] }

    /// Runs `body` for every batch item with three scratch matrices large enough for any operand or product, one set
    /// per thread's run of items (like `GEMM.forEachProduct`: items in parallel when there are enough of them, else
    /// one after the other with each GEMM using the threads). Every item computes the same bits either way.
    func eachProduct(_ body: (Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let (m, n, k) = dims, size = max(m * k, k * n, m * n), count = Tensor.elementCount(batchShape)
        let threads = Parallel.isInsideWorker ? 1 : Parallel.threadCount
        let grain = count >= threads ? (count + threads - 1) / threads : count
        Parallel.forRanges(count, grain: grain) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * size)
            defer { scratch.deallocate() }
            for t in range { body(t, scratch, scratch + size, scratch + 2 * size) }
        }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let y = Tensor(uninitialized: output)   // the product covers the output one-to-one
        let pa = UnsafePointer(inputs[0].data), pb = UnsafePointer(inputs[1].data), py = y.data
        let (m, n, k) = dims, ps = productShape
        // MatMul's GEMM call on each batch item's row-major A and B.
        eachProduct { t, s0, s1, s2 in
            let ma = matrix(a.shape, a.strides, t), mb = matrix(b.shape, b.strides, t), mc = matrix(ps, productStrides, t)
            let c = StridedMatMul.target(mc, py, s2, scale: nil)
            GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                       a: StridedMatMul.contiguous(ma, pa, s0, scale: aScale), lda: k,
                       b: StridedMatMul.contiguous(mb, pb, s1, scale: bScale), ldb: n, beta: 0, c: c, ldc: n, rowInvariant: true)
            StridedMatMul.scatter(c, mc, py, scale: nil)
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        let pa = UnsafePointer(inputs[0].data), pb = UnsafePointer(inputs[1].data), dy = UnsafePointer(gradOutput.data)
        let (m, n, k) = dims, ps = productShape
        var grads: [Tensor?] = [nil, nil]
        if needsGrad.count > 0 && needsGrad[0] {
            // dA = dY · Bᵀ (MatMul's call), then into A's place (times A's scale: the Mul's gradient).
            let da = Tensor(uninitialized: inputs[0].shape)
            let out = da.data
            eachProduct { t, s0, s1, s2 in
                let ma = matrix(a.shape, a.strides, t), mb = matrix(b.shape, b.strides, t), mc = matrix(ps, productStrides, t)
                let c = StridedMatMul.target(ma, out, s2, scale: aScale)
                GEMM.sgemm(transA: false, transB: true, m: m, n: k, k: n, alpha: 1,
                           a: StridedMatMul.contiguous(mc, dy, s0, scale: nil), lda: n,
                           b: StridedMatMul.contiguous(mb, pb, s1, scale: bScale), ldb: n, beta: 0, c: c, ldc: k, rowInvariant: true)
                StridedMatMul.scatter(c, ma, out, scale: aScale)
            }
            grads[0] = da
        }
        if needsGrad.count > 1 && needsGrad[1] {
            // dB = Aᵀ · dY (MatMul's call), then into B's place (times B's scale).
            let db = Tensor(uninitialized: inputs[1].shape)
            let out = db.data
            eachProduct { t, s0, s1, s2 in
                let ma = matrix(a.shape, a.strides, t), mb = matrix(b.shape, b.strides, t), mc = matrix(ps, productStrides, t)
                let c = StridedMatMul.target(mb, out, s2, scale: bScale)
                GEMM.sgemm(transA: true, transB: false, m: k, n: n, k: m, alpha: 1,
                           a: StridedMatMul.contiguous(ma, pa, s0, scale: aScale), lda: k,
                           b: StridedMatMul.contiguous(mc, dy, s1, scale: nil), ldb: n, beta: 0, c: c, ldc: n, rowInvariant: true)
                StridedMatMul.scatter(c, mb, out, scale: bScale)
            }
            grads[1] = db
        }
        return grads
    }
}
