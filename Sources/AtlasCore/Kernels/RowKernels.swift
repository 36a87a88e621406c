import CKernels

/// AVX-512 kernels over contiguous rows for the transformer layers (Softmax on the last axis, LayerNormalization),
/// used where the GEMM kernel is AVX-512 (`GEMM.kernel`, so `ATLAS_KERNEL=avx2` also selects the portable paths).
/// Rows are independent and each is computed in one fixed order, so results do not depend on the batch, the chunking
/// or the thread count; they are within float32 rounding of the portable paths (sums taken in another order).
public enum RowKernels {
    /// Whether the AVX-512 row kernels run.
    public static var isAvailable: Bool { GEMM.kernel == .avx512 }

    /// Rows per parallel chunk for rows of `n` floats.
    static func grain(_ n: Int) -> Int { max(1, 8192 / max(n, 1)) }

    /// y = softmax(x) over each of `rows` rows of `n` floats.
    public static func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        Parallel.forRanges(rows, grain: grain(n)) { r in
            ck_softmax512_rows(x + r.lowerBound * n, y + r.lowerBound * n, r.count, n)
        }
    }

    /// y = (x − μ)·r·γ + β over each of `rows` rows of `n` floats (γ, β: n values; β may be nil), μ and
    /// r = 1/√(σ² + ε) per row in double precision.
    public static func layerNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>?, epsilon: Float) {
        Parallel.forRanges(rows, grain: grain(n)) { r in
            ck_layernorm512_rows(x + r.lowerBound * n, y + r.lowerBound * n, r.count, n, gamma, beta, epsilon)
        }
    }

    /// Softmax's input gradient over each row: gx = y·(g − Σ g·y).
    public static func softmaxBackward(_ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>,
                                       rows: Int, n: Int) {
        Parallel.forRanges(rows, grain: grain(n)) { r in
            let o = r.lowerBound * n
            ck_softmax512_backward_rows(y + o, g + o, gx + o, r.count, n)
        }
    }

    /// LayerNormalization's input gradient over each row (γ: n values): r·(g′ − mean(g′) − x̂·mean(g′·x̂)).
    public static func layerNormBackward(_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                                         _ gx: UnsafeMutablePointer<Float>, rows: Int, n: Int,
                                         gamma: UnsafePointer<Float>, epsilon: Float) {
        Parallel.forRanges(rows, grain: grain(n)) { r in
            let o = r.lowerBound * n
            ck_layernorm512_backward_rows(x + o, gy + o, gx + o, r.count, n, gamma, epsilon)
        }
    }
}
