/// ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C with A the runtime input (2-D) and B, C constant; C broadcasts
/// (unidirectionally) to [M, N]. The input gradient is dA = alpha·dY·op(B)ᵀ (transposed back when `transA`).
public struct Gemm: Layer {
    /// [K, N], or [N, K] when `transB`. A B given transposed (torch's Linear exports transB = 1) is stored as [K, N]
    /// with `transB` false, transposed once here: the SGEMM then packs it with row copies instead of a scatter on
    /// every call (the same packed values, so the same results).
    public let b: Tensor
    /// Broadcastable to [M, N] (scalar, [N], [1, N], [M, 1], [M, N]), or nil.
    public let c: Tensor?
    public let alpha: Float
    public let beta: Float
    public let transA: Bool
    public let transB: Bool

    public init(b: Tensor, c: Tensor?, alpha: Float, beta: Float, transA: Bool, transB: Bool) {
        self.c = c
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        if transB && b.rank == 2 {
            let (n, k) = (b.shape[0], b.shape[1])
            let t = Tensor(uninitialized: [k, n])
            Strided.copy(dims: [k, n], src: b.data, srcStrides: [1, k], dst: t.data, dstStrides: [n, 1])
            self.b = t
            self.transB = false
        } else {
            self.b = b
            self.transB = transB
        }
    }

    public var name: String { "Gemm" }

    /// (M, N, K) for an input shape, validated.
    func dims(_ inputs: [[Int]]) throws -> (m: Int, n: Int, k: Int) {
        guard inputs.count == 1 else { throw ShapeError("Gemm expects 1 runtime input, got \(inputs.count)") }
        let a = inputs[0]
        guard a.count == 2 else { throw ShapeError("Gemm expects a 2-D input A, got \(a)") }
        guard b.rank == 2 else { throw ShapeError("Gemm expects a 2-D B, got \(b.shape)") }
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else { throw ShapeError("Gemm: A \(a) and B \(b.shape) disagree on K (transA \(transA), transB \(transB))") }
        if let c {
            let rows = c.rank == 2 ? c.shape[0] : 1, cols = c.rank >= 1 ? c.shape[c.rank - 1] : 1
            guard c.rank <= 2, rows == 1 || rows == m, cols == 1 || cols == n else {
                throw ShapeError("Gemm: C \(c.shape) does not broadcast to [\(m), \(n)]")
            }
        }
        return (m, n, k)
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (m, n, _) = try dims(inputs)
        return [m, n]
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int {
        guard let (m, n, k) = try? dims(inputs) else { return 0 }
        return m * n * k
    }

    public func forward(_ inputs: [Tensor]) -> Tensor {
        let a = inputs[0]
        guard let (m, n, k) = try? dims([a.shape]) else { fatalError("Gemm called on an unvalidated input \(a.shape)") }
        let y = Tensor(uninitialized: [m, n])   // written by the broadcast of C or by the product (beta 0)
        var betaC: Float = 0
        if let c, beta != 0 {
            // Y starts as beta·C broadcast; the product is then accumulated onto it.
            let rows = c.rank == 2 ? c.shape[0] : 1, cols = c.rank >= 1 ? c.shape[c.rank - 1] : 1
            let src = c.data, dst = y.data
            for i in 0..<m {
                let row = src + (rows == 1 ? 0 : i * cols)
                for j in 0..<n { dst[i * n + j] = beta * row[cols == 1 ? 0 : j] }
            }
            betaC = 1
        }
        GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: a.shape[1],
                   b: b.data, ldb: b.shape[1], beta: betaC, c: y.data, ldc: n, rowInvariant: true)
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        guard needsGrad.first == true else { return [nil] }
        let a = inputs[0]
        guard let (m, n, k) = try? dims([a.shape]) else { fatalError("Gemm called on an unvalidated input \(a.shape)") }
        let da = Tensor(uninitialized: a.shape)   // beta 0: only written
        let dy = gradOutput.data, ldb = b.shape[1]
        if transA {
            // A is [K, M]: dA = alpha·op(B)·dYᵀ.
            GEMM.sgemm(transA: transB, transB: true, m: k, n: m, k: n, alpha: alpha, a: b.data, lda: ldb,
                       b: dy, ldb: n, beta: 0, c: da.data, ldc: m, rowInvariant: true)
        } else {
            // A is [M, K]: dA = alpha·dY·op(B)ᵀ.
            GEMM.sgemm(transA: false, transB: !transB, m: m, n: k, k: n, alpha: alpha, a: dy, lda: n,
                       b: b.data, ldb: ldb, beta: 0, c: da.data, ldc: k, rowInvariant: true)
        }
        return [da]
    }
}

/// ONNX / numpy MatMul of two runtime inputs: batched matrix products over broadcast leading dimensions.
/// A rank-1 A is a row vector ([K] → [1, K]) and a rank-1 B a column vector ([K] → [K, 1]); the added
/// dimension is removed from the result. Gradients for both inputs sum over the dimensions they were
/// broadcast along, in a fixed order.
public struct MatMul: Layer, ActivationFusable {
    /// Added to every row of the product (the `matmul-bias` pass folds a Linear's `Add` of a constant [N] here), in the
    /// GEMM's epilogue while each block is in cache: the values of a separate Add, bit for bit. Nil for plain MatMul.
    public let bias: Tensor?

    public init(bias: Tensor? = nil) { self.bias = bias }

    public var name: String { "MatMul" }

    /// The batched product an input pair describes.
    struct Plan {
        var m = 0, n = 0, k = 0
        var outShape: [Int] = []
        /// Per output batch item: element offset of its A and B matrices.
        var aOffsets: [Int] = [], bOffsets: [Int] = []
        var batches: Int { aOffsets.count }
        /// A is one contiguous stack of all batches and B a single shared matrix: one tall GEMM does it all.
        var isStackedOverSharedB = false
    }

    func plan(_ inputs: [[Int]]) throws -> Plan {
        guard inputs.count == 2 else { throw ShapeError("MatMul expects 2 inputs, got \(inputs.count)") }
        let (a, b) = (inputs[0], inputs[1])
        guard !a.isEmpty, !b.isEmpty else { throw ShapeError("MatMul inputs must have rank ≥ 1, got \(a) and \(b)") }
        let a2 = a.count == 1 ? [1, a[0]] : a, b2 = b.count == 1 ? [b[0], 1] : b
        var p = Plan()
        p.m = a2[a2.count - 2]; p.k = a2[a2.count - 1]; p.n = b2[b2.count - 1]
        guard b2[b2.count - 2] == p.k else { throw ShapeError("MatMul: A \(a) and B \(b) disagree on K") }
        let aBatch = Array(a2.dropLast(2)), bBatch = Array(b2.dropLast(2))
        let rank = max(aBatch.count, bBatch.count)
        let aFull = [Int](repeating: 1, count: rank - aBatch.count) + aBatch
        let bFull = [Int](repeating: 1, count: rank - bBatch.count) + bBatch
        var batch = [Int]()
        for (x, y) in zip(aFull, bFull) {
            guard x == y || x == 1 || y == 1 else { throw ShapeError("MatMul: batch dimensions of \(a) and \(b) do not broadcast") }
            batch.append(x == 1 ? y : x)
        }
        p.outShape = batch + (a.count == 1 ? [] : [p.m]) + (b.count == 1 ? [] : [p.n])
        let aStrides = contiguousStrides(aFull), bStrides = contiguousStrides(bFull)
        let count = Tensor.elementCount(batch)
        p.aOffsets.reserveCapacity(count)
        p.bOffsets.reserveCapacity(count)
        var index = [Int](repeating: 0, count: rank)
        for _ in 0..<count {
            var ao = 0, bo = 0
            for d in 0..<rank {
                if aFull[d] != 1 { ao += index[d] * aStrides[d] }
                if bFull[d] != 1 { bo += index[d] * bStrides[d] }
            }
            p.aOffsets.append(ao * p.m * p.k)
            p.bOffsets.append(bo * p.k * p.n)
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < batch[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        p.isStackedOverSharedB = Tensor.elementCount(bFull) == 1 && Tensor.elementCount(aFull) == count
        return p
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let p = try plan(inputs)
        if let bias, bias.count != p.n { throw ShapeError("MatMul bias has \(bias.count) values for \(p.n) columns") }
        return p.outShape
    }

    public func multiplyAdds(_ inputs: [[Int]]) -> Int {
        guard let p = try? plan(inputs) else { return 0 }
        return p.batches * p.m * p.n * p.k
    }

    func validPlan(_ inputs: [Tensor]) -> Plan {
        do { return try plan(inputs.map(\.shape)) } catch { fatalError("MatMul called on unvalidated inputs: \(error)") }
    }

    public func forward(_ inputs: [Tensor]) -> Tensor { forward(inputs, activation: nil) }

    /// The product (plus bias), then `activation` (a Linear's GELU), both in the GEMM's epilogue while each block is
    /// in cache: the bits of separate steps.
    public func forward(_ inputs: [Tensor], activation: (any ElementwiseLayer)?) -> Tensor {
        let p = validPlan(inputs)
        let y = Tensor(uninitialized: p.outShape)   // every batch's product is written with beta 0
        let a = UnsafePointer(inputs[0].data), b = UnsafePointer(inputs[1].data), out = y.data
        let (m, n, k) = (p.m, p.n, p.k)
        let bias = self.bias.map { UnsafePointer($0.data) }
        /// Adds the bias to, then applies the activation on, rows × cols of the product whose first element is at `c`.
        func addBias(_ c: UnsafeMutablePointer<Float>) -> GEMM.Epilogue? {
            if bias == nil && activation == nil { return nil }
            return { rows, cols in
                for r in rows {
                    let row = c + r * n + cols.lowerBound
                    if let bias { Vector.add(bias + cols.lowerBound, into: row, count: cols.count) }
                    activation?.applyInPlace(row, count: cols.count)
                }
            }
        }
        if p.isStackedOverSharedB {
            GEMM.sgemm(transA: false, transB: false, m: p.batches * m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n,
                       beta: 0, c: out, ldc: n, rowInvariant: true, epilogue: addBias(out))
            return y
        }
        GEMM.forEachProduct(p.batches) { t in
            GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a + p.aOffsets[t], lda: k,
                       b: b + p.bOffsets[t], ldb: n, beta: 0, c: out + t * m * n, ldc: n, rowInvariant: true,
                       epilogue: addBias(out + t * m * n))
        }
        return y
    }

    public func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        let p = validPlan(inputs)
        let a = UnsafePointer(inputs[0].data), b = UnsafePointer(inputs[1].data), dy = UnsafePointer(gradOutput.data)
        let (m, n, k) = (p.m, p.n, p.k)
        var grads: [Tensor?] = [nil, nil]
        if needsGrad.count > 0 && needsGrad[0] {
            let da = Tensor(zeros: inputs[0].shape)
            let out = da.data
            if p.isStackedOverSharedB {
                // dA (all batches stacked) = dY · Bᵀ.
                GEMM.sgemm(transA: false, transB: true, m: p.batches * m, n: k, k: n, alpha: 1, a: dy, lda: n, b: b, ldb: n,
                           beta: 0, c: out, ldc: k, rowInvariant: true)
            } else {
                // dA[slot] = Σ over the output batches reading that slot of dY[t] · B[t]ᵀ, in batch order.
                let slots = MatMul.groups(p.aOffsets, size: m * k, slotCount: inputs[0].count / max(1, m * k))
                GEMM.forEachProduct(slots.count) { s in
                    for (i, t) in slots[s].enumerated() {
                        GEMM.sgemm(transA: false, transB: true, m: m, n: k, k: n, alpha: 1, a: dy + t * m * n, lda: n,
                                   b: b + p.bOffsets[t], ldb: n, beta: i == 0 ? 0 : 1, c: out + s * m * k, ldc: k, rowInvariant: true)
                    }
                }
            }
            grads[0] = da
        }
        if needsGrad.count > 1 && needsGrad[1] {
            let db = Tensor(zeros: inputs[1].shape)
            let out = db.data
            if p.isStackedOverSharedB {
                // dB = Aᵀ · dY with all batches stacked along the summed dimension.
                GEMM.sgemm(transA: true, transB: false, m: k, n: n, k: p.batches * m, alpha: 1, a: a, lda: k, b: dy, ldb: n,
                           beta: 0, c: out, ldc: n, rowInvariant: true)
            } else {
                let slots = MatMul.groups(p.bOffsets, size: k * n, slotCount: inputs[1].count / max(1, k * n))
                GEMM.forEachProduct(slots.count) { s in
                    for (i, t) in slots[s].enumerated() {
                        GEMM.sgemm(transA: true, transB: false, m: k, n: n, k: m, alpha: 1, a: a + p.aOffsets[t], lda: k,
                                   b: dy + t * m * n, ldb: n, beta: i == 0 ? 0 : 1, c: out + s * k * n, ldc: n, rowInvariant: true)
                    }
                }
            }
            grads[1] = db
        }
        return grads
    }

    /// For each input matrix slot, the output batch items that read it, in increasing order.
    static func groups(_ offsets: [Int], size: Int, slotCount: Int) -> [[Int]] {
        var slots = [[Int]](repeating: [], count: max(slotCount, 0))
        for (t, o) in offsets.enumerated() where size > 0 { slots[o / size].append(t) }
        return slots
    }
}
