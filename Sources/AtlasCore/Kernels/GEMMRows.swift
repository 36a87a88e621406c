/// The blocked SGEMM for a C too large to stay in cache from one depth block to the next (ViT's token Linears:
/// 3152×3072 floats, 38 MB): the whole depth of B is packed for a column block, and each task takes one block of
/// rows through every depth block while its C tile is still in L1/L2, instead of sweeping all of C once per depth
/// block (from memory). Each element of C gets the same operations in the same order as in `blocked`, so the
/// results are bit-identical to it.
extension GEMM {
    static func blockedByRows(kernel: GEMMKernel, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: Epilogue?) {
        let mr = kernel.mr, nr = kernel.nr, nc = kernel.nc
        let kStep = depthStep(k, kc: kernel.kc)
        let depths = Array(stride(from: 0, to: k, by: kStep))
        let (mStep, rowBlocks) = GEMM.rowBlocks(m: m, kernel: kernel)
        let packedWidth = (min(n, nc) + nr - 1) / nr * nr
        // B's depth block at pc is at bp + pc·(padded width); A's (one task's rows) at ap + (padded rows)·pc.
        Scratch.with(.packB, count: k * packedWidth) { bp in
            var jc = 0
            while jc < n {
                let ncb = min(nc, n - jc)
                let panels = (ncb + nr - 1) / nr, width = panels * nr
                let chunks = (panels + 31) / 32
                Parallel.forEach(depths.count * chunks) { t in
                    let pc = depths[t / chunks], q = (t % chunks) * 32
                    packB(nr: nr, transB: transB, b: b, ldb: ldb, row0: pc, col0: jc, kcb: min(kStep, k - pc), ncb: ncb,
                          panels: q ..< min(panels, q + 32), into: bp + pc * width)
                }
                let groups = (ncb + columnGroup - 1) / columnGroup
                let jcNow = jc
                Parallel.forEach(rowBlocks) { block in
                    let ic = block * mStep, mcb = min(mStep, m - ic)
                    if mcb <= 0 { return }
                    let rows = (mcb + mr - 1) / mr * mr
                    Scratch.with(.packA, count: rows * k) { ap in
                        for pc in depths {
                            packA(mr: mr, transA: transA, a: a, lda: lda, row0: ic, col0: pc, mcb: mcb,
                                  kcb: min(kStep, k - pc), into: ap + rows * pc)
                        }
                        for g in 0..<groups {
                            let cols = g * columnGroup ..< min(ncb, (g + 1) * columnGroup)
                            for pc in depths {
                                macro(kernel, ap: ap + rows * pc, bp: bp + pc * width, mcb: mcb, kcb: min(kStep, k - pc),
                                      cols: cols, alpha: alpha, beta: pc == 0 ? beta : 1, c: c + ic * ldc + jcNow, ldc: ldc)
                            }
                            epilogue?(ic ..< ic + mcb, jcNow + cols.lowerBound ..< jcNow + cols.upperBound)
                        }
                    }
                }
                jc += ncb
            }
        }
    }
}
