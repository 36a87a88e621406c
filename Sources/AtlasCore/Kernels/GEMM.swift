/// Single-precision matrix multiply, the engine's workhorse (convolutions, Gemm, MatMul, the image DFT).
///
/// Row-major `C = alpha·op(A)·op(B) + beta·C` with `op(X) = X` or `Xᵀ`. Large products take the BLIS path:
/// B is packed into KC×NC blocks of 16-column panels, A into MC×KC blocks of 6-row panels (transposes are
/// absorbed by the packing), and a 6×16 register-blocked micro-kernel (twelve `SIMD8<Float>` accumulators,
/// `addProduct` → `vfmadd231ps`) sweeps the panels. Small or skinny products skip packing.
///
/// Determinism: every element of C is accumulated over k in the same order (KC blocks in sequence, k in
/// sequence inside a block) whichever thread computes its tile, so results are bit-identical at any thread
/// count. Work is parallel over (MC rows × column group) tiles of C; never over k.
/// With `beta == 0`, C is only written, never read (it may hold NaN garbage).
public enum GEMM {
    /// Micro-tile rows (A panel height).
    public static let mr = 6
    /// Micro-tile columns (B panel width).
    public static let nr = 16
    /// Rows of A packed per task (the packed block stays in L2).
    public static let mc = 192
    /// Depth of one packed block (a 16×KC panel of B stays in L1).
    public static let kc = 256
    /// Columns of B packed at a time (the packed block stays in L2/L3).
    public static let nc = 4080
    /// Columns of one parallel task inside an NC block.
    static let columnGroup = 512

    /// Row-major `C[m×n] = alpha·op(A)·op(B) + beta·C`, where op(A) is m×k and op(B) is k×n.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (A is k×m when `transA`, B is n×k when `transB`).
    /// Runs in parallel with `Parallel`; serially when called from inside a `Parallel` worker.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m <= 0 || n <= 0 { return }
        if k <= 0 || alpha == 0 {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        if m < 4 || n < 8 || m * n * k <= 24 * 24 * 24 {
            GEMMDirect.run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                           a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            blocked(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// Runs independent tasks that each call `sgemm`: in parallel when there are at least as many tasks as
    /// threads, else one after the other so that each `sgemm` uses the threads itself. Either way every
    /// product computes the same bits.
    public static func forEachProduct(_ count: Int, _ body: (Int) -> Void) {
        if count >= Parallel.threadCount {
            Parallel.forEach(count, body)
        } else {
            for t in 0..<count { body(t) }
        }
    }

    /// C = beta·C (C = 0 without reading it when beta is 0).
    static func scale(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
        }
    }

    /// Splits `k` into nearly equal blocks of at most `kc` (so no tiny last block).
    @inline(__always)
    static func depthStep(_ k: Int) -> Int {
        let blocks = (k + kc - 1) / kc
        return (k + blocks - 1) / blocks
    }

    // MARK: - Blocked path

    static func blocked(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let kStep = depthStep(k)
        let widest = min(n, nc)
        let packedWidth = (widest + nr - 1) / nr * nr
        Scratch.with(.packB, count: kStep * packedWidth) { bp in
            var jc = 0
            while jc < n {
                let ncb = min(nc, n - jc)
                let panels = (ncb + nr - 1) / nr
                var pc = 0
                while pc < k {
                    let kcb = min(kStep, k - pc)
                    let betaBlock: Float = pc == 0 ? beta : 1
                    Parallel.forRanges(panels, grain: 32) { range in
                        packB(transB: transB, b: b, ldb: ldb, row0: pc, col0: jc, kcb: kcb, ncb: ncb,
                              panels: range, into: bp)
                    }
                    let rowBlocks = (m + mc - 1) / mc
                    let groups = (ncb + columnGroup - 1) / columnGroup
                    let (jcNow, pcNow) = (jc, pc)
                    Parallel.forEach(rowBlocks * groups) { task in
                        let ic = (task / groups) * mc
                        let mcb = min(mc, m - ic)
                        let j0 = (task % groups) * columnGroup
                        let j1 = min(ncb, j0 + columnGroup)
                        Scratch.with(.packA, count: ((mcb + mr - 1) / mr * mr) * kcb) { ap in
                            packA(transA: transA, a: a, lda: lda, row0: ic, col0: pcNow, mcb: mcb, kcb: kcb, into: ap)
                            macroKernel(ap: ap, bp: bp, mcb: mcb, kcb: kcb, cols: j0..<j1, alpha: alpha, beta: betaBlock,
                                        c: c + ic * ldc + jcNow, ldc: ldc)
                        }
                    }
                    pc += kcb
                }
                jc += ncb
            }
        }
    }

    /// Runs the micro-kernel over every (16-column, 6-row) tile of one packed A block and a column range
    /// (a multiple of 16 from its start) of the packed B block. `c` points at the block's top-left element.
    @inline(__always)
    static func macroKernel(ap: UnsafePointer<Float>, bp: UnsafePointer<Float>, mcb: Int, kcb: Int, cols: Range<Int>,
                            alpha: Float, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        var jr = cols.lowerBound
        while jr < cols.upperBound {
            let nrb = min(nr, cols.upperBound - jr)
            let bPanel = bp + (jr / nr) * kcb * nr
            var ir = 0
            while ir < mcb {
                let mrb = min(mr, mcb - ir)
                let aPanel = ap + ir * kcb
                let cTile = c + ir * ldc + jr
                if mrb == mr && nrb == nr {
                    microKernel(kcb, aPanel, bPanel, cTile, ldc, alpha, beta)
                } else {
                    edgeTile(kcb, aPanel, bPanel, cTile, ldc, alpha, beta, rows: mrb, cols: nrb)
                }
                ir += mr
            }
            jr += nr
        }
    }

    /// A partial tile: the full micro-kernel writes into a local 6×16 tile, then the valid part is merged
    /// with exactly the arithmetic of the full kernel (alpha·acc + beta·c).
    @inline(never)
    static func edgeTile(_ kcb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                         _ ldc: Int, _ alpha: Float, _ beta: Float, rows: Int, cols: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { tmp in
            let t = tmp.baseAddress!
            microKernel(kcb, a, b, t, nr, alpha, 0)
            for i in 0..<rows {
                let src = t + i * nr, dst = c + i * ldc
                if beta == 0 {
                    for j in 0..<cols { dst[j] = src[j] }
                } else {
                    for j in 0..<cols { dst[j] = src[j] + beta * dst[j] }
                }
            }
        }
    }

    /// The 6×16 register-blocked kernel: C[6×16] = alpha·Σ_p a[p][0..<6] ⊗ b[p][0..<16] + beta·C.
    /// `a` is a packed 6-row panel (6 floats per p), `b` a packed 16-column panel (16 floats per p).
    @inline(__always)
    static func microKernel(_ kcb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var ap = a, bp = UnsafeRawPointer(b)
        for _ in 0..<kcb {
            let b0 = bp.loadUnaligned(as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: V.self)
            var av = V(repeating: ap[0])
            c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = V(repeating: ap[1])
            c10.addProduct(av, b0); c11.addProduct(av, b1)
            av = V(repeating: ap[2])
            c20.addProduct(av, b0); c21.addProduct(av, b1)
            av = V(repeating: ap[3])
            c30.addProduct(av, b0); c31.addProduct(av, b1)
            av = V(repeating: ap[4])
            c40.addProduct(av, b0); c41.addProduct(av, b1)
            av = V(repeating: ap[5])
            c50.addProduct(av, b0); c51.addProduct(av, b1)
            ap += 6
            bp += 64
        }
        let va = V(repeating: alpha)
        store(c, c00 * va, c01 * va, beta)
        store(c + ldc, c10 * va, c11 * va, beta)
        store(c + 2 * ldc, c20 * va, c21 * va, beta)
        store(c + 3 * ldc, c30 * va, c31 * va, beta)
        store(c + 4 * ldc, c40 * va, c41 * va, beta)
        store(c + 5 * ldc, c50 * va, c51 * va, beta)
    }

    @inline(__always)
    static func store(_ c: UnsafeMutablePointer<Float>, _ r0: SIMD8<Float>, _ r1: SIMD8<Float>, _ beta: Float) {
        let raw = UnsafeMutableRawPointer(c)
        var v0 = r0, v1 = r1
        if beta != 0 {
            let vb = SIMD8<Float>(repeating: beta)
            v0 += vb * raw.loadUnaligned(as: SIMD8<Float>.self)
            v1 += vb * raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        }
        raw.storeBytes(of: v0, as: SIMD8<Float>.self)
        raw.storeBytes(of: v1, toByteOffset: 32, as: SIMD8<Float>.self)
    }

    // MARK: - Packing

    /// Packs rows `row0..<row0+mcb`, columns `col0..<col0+kcb` of op(A) into 6-row panels (zero-padded).
    static func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, row0: Int, col0: Int, mcb: Int, kcb: Int,
                      into ap: UnsafeMutablePointer<Float>) {
        var ir = 0
        while ir < mcb {
            let rows = min(mr, mcb - ir)
            let dst = ap + ir * kcb
            if transA {
                // op(A)(i, p) = a[p·lda + i]: six consecutive floats per p.
                let src = a + col0 * lda + row0 + ir
                for p in 0..<kcb {
                    let s = src + p * lda, d = dst + p * mr
                    for r in 0..<rows { d[r] = s[r] }
                    for r in rows..<mr { d[r] = 0 }
                }
            } else if rows == mr {
                let s0 = a + (row0 + ir) * lda + col0
                let s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda
                for p in 0..<kcb {
                    let d = dst + p * mr
                    d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p]
                }
            } else {
                for p in 0..<kcb {
                    let d = dst + p * mr
                    for r in 0..<rows { d[r] = a[(row0 + ir + r) * lda + col0 + p] }
                    for r in rows..<mr { d[r] = 0 }
                }
            }
            ir += mr
        }
    }

    /// Packs the given 16-column panels of rows `row0..<row0+kcb`, columns `col0..<col0+ncb` of op(B).
    static func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, row0: Int, col0: Int, kcb: Int, ncb: Int,
                      panels: Range<Int>, into bp: UnsafeMutablePointer<Float>) {
        for q in panels {
            let j0 = q * nr
            let cols = min(nr, ncb - j0)
            let dst = bp + q * kcb * nr
            if transB {
                // op(B)(p, j) = b[j·ldb + p]: walk each stored row, scatter into the panel.
                for j in 0..<cols {
                    let s = b + (col0 + j0 + j) * ldb + row0
                    for p in 0..<kcb { dst[p * nr + j] = s[p] }
                }
                if cols < nr {
                    for p in 0..<kcb { for j in cols..<nr { dst[p * nr + j] = 0 } }
                }
            } else if cols == nr {
                var s = UnsafeRawPointer(b + row0 * ldb + col0 + j0)
                var d = UnsafeMutableRawPointer(dst)
                let stride = ldb * MemoryLayout<Float>.stride
                for _ in 0..<kcb {
                    d.storeBytes(of: s.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    d.storeBytes(of: s.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32,
                                 as: SIMD8<Float>.self)
                    s += stride
                    d += 64
                }
            } else {
                for p in 0..<kcb {
                    let s = b + (row0 + p) * ldb + col0 + j0, d = dst + p * nr
                    for j in 0..<cols { d[j] = s[j] }
                    for j in cols..<nr { d[j] = 0 }
                }
            }
        }
    }
}
