/// The one dense matrix product of AtlasVis (inverse DFT, Gram matrices). A straightforward SIMD loop that is
/// exact and deterministic at icon sizes; it is kept behind this single function so an engine GEMM can replace it.
enum VisKernels {
    /// Row-major `C[m×n] = A[m×k] · B[k×n]` (or `+=` when `accumulate`), with leading dimensions in elements.
    /// Summation over `k` runs in increasing order for every output, whatever the sizes.
    static func matmul(m: Int, n: Int, k: Int,
                       _ a: UnsafePointer<Float>, lda: Int,
                       _ b: UnsafePointer<Float>, ldb: Int,
                       _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        let n16 = n & ~15
        for i in 0..<m {
            let ci = c + i * ldc
            if !accumulate { ci.update(repeating: 0, count: n) }
            let ai = a + i * lda
            var j = 0
            while j < n16 {
                var acc0 = UnsafeRawPointer(ci + j).loadUnaligned(as: SIMD8<Float>.self)
                var acc1 = UnsafeRawPointer(ci + j + 8).loadUnaligned(as: SIMD8<Float>.self)
                var bp = b + j
                for p in 0..<k {
                    let s = SIMD8<Float>(repeating: ai[p])
                    acc0.addProduct(s, UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self))
                    acc1.addProduct(s, UnsafeRawPointer(bp + 8).loadUnaligned(as: SIMD8<Float>.self))
                    bp += ldb
                }
                UnsafeMutableRawPointer(ci + j).storeBytes(of: acc0, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(ci + j + 8).storeBytes(of: acc1, as: SIMD8<Float>.self)
                j += 16
            }
            while j < n {
                var acc = ci[j]
                for p in 0..<k { acc = acc.addingProduct(ai[p], b[p * ldb + j]) }
                ci[j] = acc
                j += 1
            }
        }
    }
}
