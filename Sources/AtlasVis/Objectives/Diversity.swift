import AtlasCore

/// Lucid's diversity objective over a batch (the one objective that couples icons).
///
/// Per icon `i`: `A_i` is the `[C, H·W]` activation matrix, `G_i = A_i A_iᵀ`, `Ĝ_i = G_i / sqrt(max(‖G_i‖², 1e-10))`
/// (TensorFlow's `l2_normalize`). Icon `i`'s value is `Σ_{j≠i} ⟨Ĝ_i, Ĝ_j⟩ / N`, so the batch total is Lucid's.
/// Its gradient w.r.t. `A_i` is `2 · dG_i · A_i` with `dG_i = (H_i − Ĝ_i ⟨Ĝ_i, H_i⟩) / ‖G_i‖`, `H_i = 2/N Σ_{j≠i} Ĝ_j`.
enum Diversity {
    static func evaluate(_ a: Tensor, _ g: Tensor, channels c: Int, plane: Int, weight w: Float) -> [Double] {
        let n = a.shape[0], cc = c * c, per = c * plane
        let grams = Tensor(zeros: [n, c, c])
        var norms = [Double](repeating: 0, count: n)
        norms.withUnsafeMutableBufferPointer { normBuf in
            let norm = normBuf.baseAddress!
            Parallel.forEach(n) { i in
                let ai = a.data + i * per
                let at = UnsafeMutablePointer<Float>.allocate(capacity: per)
                defer { at.deallocate() }
                for ch in 0..<c { for p in 0..<plane { at[p * c + ch] = ai[ch * plane + p] } }
                let gi = grams.data + i * cc
                VisKernels.matmul(m: c, n: c, k: plane, ai, lda: plane, at, ldb: c, gi, ldc: c)
                var ss = 0.0
                for j in 0..<cc { ss += Double(gi[j]) * Double(gi[j]) }
                norm[i] = max(ss, 1e-10).squareRoot()
                let inv = Float(1 / norm[i])
                for j in 0..<cc { gi[j] *= inv }
            }
        }
        // S = Σ_j Ĝ_j in double, in icon order.
        var total = [Double](repeating: 0, count: cc)
        for i in 0..<n { for j in 0..<cc { total[j] += Double(grams.data[i * cc + j]) } }
        var values = [Double](repeating: 0, count: n)
        values.withUnsafeMutableBufferPointer { valBuf in
            let vals = valBuf.baseAddress!
            total.withUnsafeBufferPointer { tot in
                Parallel.forEach(n) { i in
                    let gi = grams.data + i * cc
                    let hmat = UnsafeMutablePointer<Float>.allocate(capacity: cc)
                    defer { hmat.deallocate() }
                    var value = 0.0, gh = 0.0
                    for j in 0..<cc {
                        let others = tot[j] - Double(gi[j])
                        value += Double(gi[j]) * others
                        let hj = 2 / Double(n) * others
                        gh += Double(gi[j]) * hj
                        hmat[j] = Float(hj)
                    }
                    vals[i] = value / Double(n)
                    // dG = (H − Ĝ ⟨Ĝ, H⟩) / ‖G‖, scaled by 2w for dA = 2 dG A (dG is symmetric).
                    let f = 2 * Double(w) / norms[i]
                    for j in 0..<cc { hmat[j] = Float(f * (Double(hmat[j]) - Double(gi[j]) * gh)) }
                    VisKernels.matmul(m: c, n: plane, k: c, hmat, lda: c, a.data + i * per, ldb: plane,
                                      g.data + i * per, ldc: plane, accumulate: true)
                }
            }
        }
        return values
    }
}
