/// The tile transforms of Winograd's minimal filtering algorithm F(m×m, 3×3) (Lavin & Gray 2015).
///
/// One output tile Y (m×m) of a 3×3 correlation of an input tile d (t×t, t = m + 2) with a filter g is
/// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input channels, the ⊙ becomes t² independent matrix
/// products over channels (one per tile position ξ), which is what makes the method a GEMM method.
///
/// F(2, 3) uses the interpolation points 0, ±1 and ∞:
/// ```
/// Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
///      | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 -1 -1 |
///      | 0 -1  1  0 |        | ½   -½    ½  |
///      | 0  1  0 -1 |        | 0    0    1  |
/// ```
/// F(4, 3) uses 0, ±1, ±2 and ∞ (the classic choice; its Bᵀ and Aᵀ are small integers, so the data
/// transforms are exact up to one rounding per add, and only G, applied once per layer in double, has fractions):
/// ```
/// Bᵀ = | 4  0 -5  0  1  0 |   G = |  1/4    0     0   |   Aᵀ = | 1  1  1  1  1  0 |
///      | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |        | 0  1 -1  2 -2  0 |
///      | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |        | 0  1  1  4  4  0 |
///      | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |        | 0  1 -1  8 -8  1 |
///      | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
///      | 0  4  0 -5  0  1 |       |   0     0     1   |
/// ```
/// The data transforms (Bᵀ d B and Aᵀ M A) run in C (`ck_wino_*` in CKernels: AVX2 on x86-64, portable C
/// elsewhere) on eight tiles of a tile row at once, one SIMD lane per tile: the vertical half on whole rows, the
/// horizontal half after splitting rows into tiles' columns. The filter transform G g Gᵀ runs here, once per layer.
enum Winograd {
    /// The filter transform G (t×3) of a tile.
    static func g(_ tile: WinogradTile) -> [[Double]] {
        switch tile {
        case .f2: return [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        case .f4: return [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                          [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        }
    }

    /// The transformed weights Uξ = (G g Gᵀ)[ξ] of a [M, C, 3, 3] kernel, one packing per ξ for `kernel`, each
    /// M×C (forward), or for the input gradient C×M of the kernel rotated by 180° (`transposed`).
    /// Computed in double and rounded once. They hold t²/9 times the kernel's floats (4× for F(4×4, 3×3), 16/9× for
    /// F(2×2, 3×3)).
    static func packWeights(tile: WinogradTile, weight: UnsafePointer<Float>, outChannels: Int, channels: Int,
                            transposed: Bool, kernel: GEMMKernel) -> [PackedA] {
        let t = tile.rawValue + 2
        let rows = transposed ? channels : outChannels, cols = transposed ? outChannels : channels
        // Planes an odd number of cache lines apart, so that one filter's t² values land in different cache sets.
        let plane = WinogradConv.skewed(rows * cols)
        let u = UnsafeMutablePointer<Float>.allocate(capacity: t * t * plane)
        defer { u.deallocate() }
        let flat = Winograd.g(tile).flatMap { $0 }
        flat.withUnsafeBufferPointer { gb in
            let g = gb.baseAddress!
            // Row r of every Uξ, four columns q at a time (SIMD4<Double>, one lane per filter), parallel over rows.
            Parallel.forEach(rows) { r in
                withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: 9 + 3 * t) { scratch in
                    let f = scratch.baseAddress!, gf = f + 9
                    var q = 0
                    while q < cols {
                        let lanes = min(4, cols - q)
                        for k in 0..<9 { f[k] = SIMD4() }
                        for l in 0..<lanes {
                            // Filter (o, c); rotated by 180° for the gradient.
                            let (o, c) = transposed ? (q + l, r) : (r, q + l)
                            let src = weight + (o * channels + c) * 9
                            for k in 0..<9 { f[k][l] = Double(transposed ? src[8 - k] : src[k]) }
                        }
                        for i in 0..<t {
                            let gi = g + 3 * i
                            for j in 0..<3 { gf[3 * i + j] = gi[0] * f[j] + gi[1] * f[3 + j] + gi[2] * f[6 + j] }
                        }
                        for i in 0..<t {
                            for j in 0..<t {
                                let gj = g + 3 * j
                                let d = gf[3 * i] * gj[0] + gf[3 * i + 1] * gj[1] + gf[3 * i + 2] * gj[2]
                                let value = SIMD4<Float>(Float(d[0]), Float(d[1]), Float(d[2]), Float(d[3]))
                                let dst = u + (i * t + j) * plane + r * cols + q
                                if lanes == 4 {
                                    UnsafeMutableRawPointer(dst).storeBytes(of: value, as: SIMD4<Float>.self)
                                } else {
                                    for l in 0..<lanes { dst[l] = value[l] }
                                }
                            }
                        }
                        q += 4
                    }
                }
            }
        }
        return (0..<(t * t)).map {
            PackedA(kernel: kernel, transA: false, m: rows, k: cols, a: u + $0 * plane, lda: cols)
        }
    }
}
