/// The unpacked SGEMM path for small or skinny products (few rows, few columns, or little work in all),
/// where packing would cost as much as the multiply. Parallel over fixed row chunks; each row of C is
/// computed by one thread with a fixed summation order, so results do not depend on the thread count.
enum GEMMDirect {
    static func run(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // Tasks are (row chunk × 256-column chunk) blocks of about 256 k multiply-adds; a column split does not
        // change any element's arithmetic.
        let width = 256
        let colChunks = (n + width - 1) / width
        let rowGrain = max(1, (1 << 18) / max(1, min(n, width) * k))
        let rowChunks = (m + rowGrain - 1) / rowGrain
        Parallel.forEach(rowChunks * colChunks) { task in
            let r0 = (task / colChunks) * rowGrain, r1 = min(m, r0 + rowGrain)
            let j0 = (task % colChunks) * width, nj = min(n, j0 + width) - j0
            let bj = transB ? b + j0 * ldb : b + j0
            if transB {
                for i in r0..<r1 {
                    dotRow(i, transA: transA, n: nj, k: k, alpha: alpha, a: a, lda: lda, b: bj, ldb: ldb, beta: beta,
                           c: c + i * ldc + j0)
                }
            } else {
                Scratch.with(.packA, count: nj) { acc in
                    for i in r0..<r1 {
                        axpyRow(i, transA: transA, n: nj, k: k, alpha: alpha, a: a, lda: lda, b: bj, ldb: ldb,
                                beta: beta, c: c + i * ldc + j0, acc: acc)
                    }
                }
            }
        }
    }

    /// Row i of C when op(B) = Bᵀ: each C(i, j) is a dot product of row i of op(A) with stored row j of B.
    @inline(__always)
    static func dotRow(_ i: Int, transA: Bool, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>) {
        for j in 0..<n {
            let bj = b + j * ldb
            var s: Float
            if transA {
                s = 0
                let ai = a + i
                for p in 0..<k { s += ai[p * lda] * bj[p] }
            } else {
                s = dot(a + i * lda, bj, k)
            }
            c[j] = beta == 0 ? alpha * s : alpha * s + beta * c[j]
        }
    }

    /// Row i of C when op(B) = B: accumulates op(A)(i, p)·B[p, :] over p into `acc`, then merges into C.
    @inline(__always)
    static func axpyRow(_ i: Int, transA: Bool, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>,
                        acc: UnsafeMutablePointer<Float>) {
        acc.update(repeating: 0, count: n)
        let vecEnd = n & ~7
        for p in 0..<k {
            let aip = transA ? a[p * lda + i] : a[i * lda + p]
            let av = SIMD8<Float>(repeating: aip)
            let row = UnsafeRawPointer(b + p * ldb)
            let out = UnsafeMutableRawPointer(acc)
            var j = 0
            while j < vecEnd {
                var v = out.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                v.addProduct(av, row.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
                out.storeBytes(of: v, toByteOffset: j * 4, as: SIMD8<Float>.self)
                j += 8
            }
            let bp = b + p * ldb
            while j < n {
                acc[j] = acc[j].addingProduct(aip, bp[j])
                j += 1
            }
        }
        for j in 0..<n { c[j] = beta == 0 ? alpha * acc[j] : alpha * acc[j] + beta * c[j] }
    }

    /// Σ x[p]·y[p] with two 8-wide accumulators and a fixed reduction order.
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ k: Int) -> Float {
        typealias V = SIMD8<Float>
        let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
        var s0 = V(), s1 = V()
        var p = 0
        while p + 16 <= k {
            s0.addProduct(rx.loadUnaligned(fromByteOffset: p * 4, as: V.self), ry.loadUnaligned(fromByteOffset: p * 4, as: V.self))
            s1.addProduct(rx.loadUnaligned(fromByteOffset: p * 4 + 32, as: V.self),
                          ry.loadUnaligned(fromByteOffset: p * 4 + 32, as: V.self))
            p += 16
        }
        if p + 8 <= k {
            s0.addProduct(rx.loadUnaligned(fromByteOffset: p * 4, as: V.self), ry.loadUnaligned(fromByteOffset: p * 4, as: V.self))
            p += 8
        }
        var s = (s0 + s1).sum()
        while p < k {
            s = s.addingProduct(x[p], y[p])
            p += 1
        }
        return s
    }
}
