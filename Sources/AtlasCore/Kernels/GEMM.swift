import CKernels

/// Single-precision matrix multiply, the engine's workhorse (convolutions, Gemm, MatMul, the image DFT).
///
/// Row-major `C = alpha·op(A)·op(B) + beta·C` with `op(X) = X` or `Xᵀ`. Large products take the BLIS path:
/// B is packed into KC×NC blocks of NR-column panels, A into MC×KC blocks of MR-row panels (transposes are
/// absorbed by the packing), and a register-blocked micro-kernel sweeps the panels: 6×16 in Swift (twelve
/// `SIMD8<Float>` accumulators, `addProduct` → `vfmadd231ps`) or 12×32 AVX-512 in C where the CPU has it
/// (`GEMM.kernel`, `GEMMKernel`). Small or skinny products skip packing. Where several column groups of tasks
/// read the same rows, each depth block of A is packed once for all of them.
///
/// Determinism: every element of C is accumulated over k in the same order (KC blocks in sequence, k in
/// sequence inside a block) whichever thread computes its tile, so results are bit-identical at any thread
/// count. Work is parallel over (MC rows × column group) tiles of C; never over k.
/// With `beta == 0`, C is only written, never read (it may hold NaN garbage).
public enum GEMM {
    /// Micro-tile of the Swift kernel (rows × columns).
    static let mr = 6, nr = 16
    /// Columns of one parallel task inside an NC block (a multiple of every kernel's NR).
    static let columnGroup = 256

    /// Row-major `C[m×n] = alpha·op(A)·op(B) + beta·C`, where op(A) is m×k and op(B) is k×n.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (A is k×m when `transA`, B is n×k when `transB`).
    /// Runs in parallel with `Parallel`; serially when called from inside a `Parallel` worker.
    /// `packedA`, when it packs this op(A) for the current kernel, replaces packing A (same results).
    /// `rowInvariant` always takes the packed path, whose arithmetic for C(i, j) depends only on k: a row (or column)
    /// of C then has the same bits whatever m and n are, so an image gets the same result alone or in any batch
    /// (the unpacked path for small products sums in another order).
    /// `epilogue`, when given, runs on every block of finished C (rows, columns), each exactly once, while the block
    /// is still in cache: e.g. adding a bias, which then costs no pass over C of its own.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, packedA: PackedA? = nil,
                             rowInvariant: Bool = false, epilogue: Epilogue? = nil) {
        if m <= 0 || n <= 0 { return }
        if k <= 0 || alpha == 0 {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            epilogue?(0..<m, 0..<n)
            return
        }
        let kernel = GEMM.kernel
        if !rowInvariant && !isPacked(m: m, n: n, k: k) {
            GEMMDirect.run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                           a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            epilogue?(0..<m, 0..<n)
        } else {
            let packed = packedA.flatMap { $0.fits(kernel: kernel, transA: transA, m: m, k: k) ? $0 : nil }
            blocked(kernel: kernel, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, packedA: packed, epilogue: epilogue)
        }
    }

    /// Whether `sgemm` takes the packed path for an m×n×k product without `rowInvariant`. A block of rows or
    /// columns of such a product, computed with `rowInvariant: true`, has exactly the bits it has in the whole
    /// product (the packed path's C(i, j) depends only on k), so callers may cut it into pieces as they like.
    public static func isPacked(m: Int, n: Int, k: Int) -> Bool { !(m < 4 || n < 8 || m * n * k <= 24 * 24 * 24) }

    /// Pieces to cut each of `products` independent products into so that every thread has work: 1 when there
    /// are at least as many products as threads. Follows the thread count, which is safe only for cuts that do
    /// not change any element's arithmetic (see `isPacked`).
    public static func piecesPerProduct(_ products: Int) -> Int {
        let threads = Parallel.isInsideWorker ? 1 : Parallel.threadCount
        return products >= threads ? 1 : (threads + max(products, 1) - 1) / max(products, 1)
    }

    /// Work on a finished block of C: its rows and columns (of the whole product).
    public typealias Epilogue = (_ rows: Range<Int>, _ cols: Range<Int>) -> Void

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
    static func depthStep(_ k: Int, kc: Int) -> Int {
        let blocks = (k + kc - 1) / kc
        return (k + blocks - 1) / blocks
    }

    // MARK: - Blocked path

    static func blocked(kernel: GEMMKernel, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, packedA: PackedA?,
                        epilogue: Epilogue? = nil, source: PanelSource? = nil) {
        let mr = kernel.mr, nr = kernel.nr, nc = kernel.nc
        let kStep = depthStep(k, kc: kernel.kc)
        let widest = min(n, nc)
        if packedA == nil && source == nil && k > kStep && rowBlocks(m: m, kernel: kernel).count >= 8 && m * widest >= 1 << 21 {
            blockedByRows(kernel: kernel, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, epilogue: epilogue)
            return
        }
        let packedWidth = (widest + nr - 1) / nr * nr
        // Several column groups would each pack the same rows of A: pack each depth block of A once, for all tasks.
        let shareA = packedA == nil && tasks(m: m, columns: widest, kernel: kernel).groups > 1
        let paddedRows = (m + mr - 1) / mr * mr
        Scratch.with(.sharedA, count: shareA ? paddedRows * kStep : 0) { sharedA in
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
                            if let source {
                                for q in range {
                                    source(pc, kcb, jc + q * nr, min(nr, ncb - q * nr), nr, bp + q * kcb * nr)
                                }
                            } else {
                                packB(nr: nr, transB: transB, b: b, ldb: ldb, row0: pc, col0: jc, kcb: kcb, ncb: ncb,
                                      panels: range, into: bp)
                            }
                        }
                        if shareA {
                            Parallel.forRanges(paddedRows / mr, grain: 8) { panels in
                                let row0 = panels.lowerBound * mr
                                packA(mr: mr, transA: transA, a: a, lda: lda, row0: row0, col0: pc,
                                      mcb: min(m, panels.upperBound * mr) - row0, kcb: kcb, into: sharedA + row0 * kcb)
                            }
                        }
                        let t = tasks(m: m, columns: ncb, kernel: kernel)
                        let (jcNow, pcNow) = (jc, pc)
                        Parallel.forEach(t.rowBlocks * t.groups) { task in
                            let ic = (task / t.groups) * t.rows
                            let mcb = min(t.rows, m - ic)
                            if mcb <= 0 { return }
                            let j0 = (task % t.groups) * t.width
                            let j1 = min(ncb, j0 + t.width)
                            let cBlock = c + ic * ldc + jcNow
                            let run = { (ap: UnsafePointer<Float>) in
                                macro(kernel, ap: ap, bp: bp, mcb: mcb, kcb: kcb, cols: j0..<j1, alpha: alpha,
                                      beta: betaBlock, c: cBlock, ldc: ldc)
                            }
                            if let packedA {
                                run(packedA.block(row: ic, depth: pcNow, kcb: kcb))
                            } else if shareA {
                                run(UnsafePointer(sharedA + ic * kcb))
                            } else {
                                Scratch.with(.packA, count: ((mcb + mr - 1) / mr * mr) * kcb) { ap in
                                    packA(mr: mr, transA: transA, a: a, lda: lda, row0: ic, col0: pcNow, mcb: mcb, kcb: kcb,
                                          into: ap)
                                    run(UnsafePointer(ap))
                                }
                            }
                            if pcNow + kcb == k { epilogue?(ic ..< ic + mcb, jcNow + j0 ..< jcNow + j1) }
                        }
                        pc += kcb
                    }
                    jc += ncb
                }
            }
        }
    }

    /// m rows cut into nearly equal blocks of `rows` (a multiple of MR, at most MC) so that tasks are of similar size.
    static func rowBlocks(m: Int, kernel: GEMMKernel) -> (rows: Int, count: Int) {
        let count = (m + kernel.mc - 1) / kernel.mc
        let rows = ((m + count - 1) / count + kernel.mr - 1) / kernel.mr * kernel.mr
        return (rows, (m + rows - 1) / rows)
    }

    /// The parallel tasks over one packed block of C, `columns` wide: blocks of `rows` rows (a multiple of MR, at
    /// most MC, nearly equal) × groups of `width` columns (a multiple of NR, `columnGroup` at most). When that
    /// leaves threads idle (a product of one small image), the groups narrow to two NR panels, then the row blocks
    /// shorten to two MR panels. Every tile's arithmetic is the same however C is cut, so this may follow the
    /// thread count.
    static func tasks(m: Int, columns: Int, kernel: GEMMKernel) -> (rows: Int, rowBlocks: Int, width: Int, groups: Int) {
        let mr = kernel.mr, nr = kernel.nr
        var (rows, rowBlocks) = rowBlocks(m: m, kernel: kernel)
        var width = columnGroup
        var groups = (columns + width - 1) / width
        let threads = Parallel.isInsideWorker ? 1 : Parallel.threadCount
        if rowBlocks * groups < threads {
            let wanted = (threads + rowBlocks - 1) / rowBlocks
            width = max(2 * nr, ((columns + wanted - 1) / wanted + nr - 1) / nr * nr)
            groups = (columns + width - 1) / width
        }
        if rowBlocks * groups < threads {
            let wanted = (threads + groups - 1) / groups
            rows = max(2 * mr, ((m + wanted - 1) / wanted + mr - 1) / mr * mr)
            rowBlocks = (m + rows - 1) / rows
        }
        return (rows, rowBlocks, width, groups)
    }

    /// One packed A block times a column range of one packed B block, with `kernel`'s macro-kernel.
    @inline(__always)
    static func macro(_ kernel: GEMMKernel, ap: UnsafePointer<Float>, bp: UnsafePointer<Float>, mcb: Int, kcb: Int,
                      cols: Range<Int>, alpha: Float, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if kernel == .avx512 {
            ck_sgemm512_macro(ap, bp, mcb, kcb, cols.lowerBound, cols.upperBound, alpha, beta, c, ldc)
        } else {
            macroKernel(ap: ap, bp: bp, mcb: mcb, kcb: kcb, cols: cols, alpha: alpha, beta: beta, c: c, ldc: ldc)
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
}
