import AtlasCore

/// The one dense matrix product of AtlasVis (inverse DFT, Gram matrices), kept behind this single function.
/// It runs on the engine's SGEMM (packed, vector micro-kernel), which sums in an order fixed by the sizes alone,
/// so results are deterministic whatever the thread count and whether it is called inside a parallel worker.
enum VisKernels {
    /// Row-major `C[m×n] = A[m×k] · B[k×n]` (or `+=` when `accumulate`), with leading dimensions in elements.
    static func matmul(m: Int, n: Int, k: Int,
                       _ a: UnsafePointer<Float>, lda: Int,
                       _ b: UnsafePointer<Float>, ldb: Int,
                       _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                   beta: accumulate ? 1 : 0, c: c, ldc: ldc)
    }
}
