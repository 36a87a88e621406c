import CKernels

/// Packing of the blocked SGEMM path: op(A) into MR-row panels, op(B) into NR-column panels, both
/// zero-padded to whole panels, for any kernel's MR and NR (fast paths for the common layouts).
extension GEMM {
    /// Packs rows `row0..<row0+mcb`, columns `col0..<col0+kcb` of op(A) into `mr`-row panels (zero-padded):
    /// panel `i` holds `mr` floats per p at `ap + i·mr·kcb`.
    static func packA(mr: Int, transA: Bool, a: UnsafePointer<Float>, lda: Int, row0: Int, col0: Int, mcb: Int, kcb: Int,
                      into ap: UnsafeMutablePointer<Float>) {
        var ir = 0
        while ir < mcb {
            let rows = min(mr, mcb - ir)
            let dst = ap + ir * kcb
            if transA {
                // op(A)(i, p) = a[p·lda + i]: `rows` consecutive floats per p.
                let src = a + col0 * lda + row0 + ir
                for p in 0..<kcb {
                    let s = src + p * lda, d = dst + p * mr
                    for r in 0..<rows { d[r] = s[r] }
                    for r in rows..<mr { d[r] = 0 }
                }
            } else if mr == Int(CK_SGEMM512_MR) {
                // The AVX-512 kernel's panels (only packed on machines that run it): register transposes in C.
                ck_pack_a12(a + (row0 + ir) * lda + col0, lda, rows, kcb, dst)
            } else if rows == 6 && mr == 6 {
                let s0 = a + (row0 + ir) * lda + col0
                let s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda
                for p in 0..<kcb {
                    let d = dst + p * mr
                    d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p]
                }
            } else {
                // One stored row at a time (contiguous reads), written with stride `mr`.
                for r in 0..<rows {
                    let s = a + (row0 + ir + r) * lda + col0
                    for p in 0..<kcb { dst[p * mr + r] = s[p] }
                }
                if rows < mr {
                    for p in 0..<kcb { for r in rows..<mr { dst[p * mr + r] = 0 } }
                }
            }
            ir += mr
        }
    }

    /// Packs the given `nr`-column panels of rows `row0..<row0+kcb`, columns `col0..<col0+ncb` of op(B):
    /// panel `q` holds `nr` floats per p at `bp + q·kcb·nr`.
    static func packB(nr: Int, transB: Bool, b: UnsafePointer<Float>, ldb: Int, row0: Int, col0: Int, kcb: Int, ncb: Int,
                      panels: Range<Int>, into bp: UnsafeMutablePointer<Float>) {
        for q in panels {
            let j0 = q * nr
            let cols = min(nr, ncb - j0)
            let dst = bp + q * kcb * nr
            if transB && nr == Int(CK_SGEMM512_NR) {
                // The AVX-512 kernel's panels (only packed on machines that run it): register transposes in C.
                ck_pack_b32_trans(b + (col0 + j0) * ldb + row0, ldb, cols, kcb, dst)
            } else if transB {
                // op(B)(p, j) = b[j·ldb + p]: walk each stored row, scatter into the panel.
                for j in 0..<cols {
                    let s = b + (col0 + j0 + j) * ldb + row0
                    for p in 0..<kcb { dst[p * nr + j] = s[p] }
                }
                if cols < nr {
                    for p in 0..<kcb { for j in cols..<nr { dst[p * nr + j] = 0 } }
                }
            } else if cols == nr && nr % 16 == 0 {
                var s = UnsafeRawPointer(b + row0 * ldb + col0 + j0)
                var d = UnsafeMutableRawPointer(dst)
                let stride = ldb * MemoryLayout<Float>.stride, bytes = nr * MemoryLayout<Float>.stride
                for _ in 0..<kcb {
                    // The next panel's part of this row (kcb rows are kcb streams, too many for the hardware prefetchers).
                    ck_prefetch_line(s + bytes)
                    ck_prefetch_line(s + bytes + 64)
                    var o = 0
                    while o < bytes {
                        d.storeBytes(of: s.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self), toByteOffset: o,
                                     as: SIMD16<Float>.self)
                        o += 64
                    }
                    s += stride
                    d += bytes
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
