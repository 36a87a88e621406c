import AtlasCore

/// Small dense linear algebra in double precision for PCA, spectral initialisation and whitening.
/// Matrices are row-major `[Double]`.
public enum DenseLinearAlgebra {
    /// Eigen-decomposition of a symmetric m×m matrix by cyclic Jacobi rotations.
    /// Returns eigenvalues in decreasing order and the matching eigenvectors as the *columns* of an m×m matrix.
    public static func symmetricEigen(_ matrix: [Double], _ m: Int, maxSweeps: Int = 100) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: m * m)
        for i in 0..<m { v[i * m + i] = 1 }
        for _ in 0..<maxSweeps {
            var off = 0.0, diag = 0.0
            for i in 0..<m {
                diag += a[i * m + i] * a[i * m + i]
                for j in (i + 1)..<max(i + 1, m) { off += a[i * m + j] * a[i * m + j] }
            }
            if off <= 1e-30 * max(diag, 1e-300) { break }
            for p in 0..<m {
                for q in (p + 1)..<max(p + 1, m) {
                    let apq = a[p * m + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (a[q * m + q] - a[p * m + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for r in 0..<m {
                        let arp = a[r * m + p], arq = a[r * m + q]
                        a[r * m + p] = c * arp - s * arq
                        a[r * m + q] = s * arp + c * arq
                    }
                    for r in 0..<m {
                        let apr = a[p * m + r], aqr = a[q * m + r]
                        a[p * m + r] = c * apr - s * aqr
                        a[q * m + r] = s * apr + c * aqr
                    }
                    for r in 0..<m {
                        let vrp = v[r * m + p], vrq = v[r * m + q]
                        v[r * m + p] = c * vrp - s * vrq
                        v[r * m + q] = s * vrp + c * vrq
                    }
                }
            }
        }
        let order = (0..<m).sorted { a[$0 * m + $0] > a[$1 * m + $1] || (a[$0 * m + $0] == a[$1 * m + $1] && $0 < $1) }
        var values = [Double](repeating: 0, count: m)
        var vectors = [Double](repeating: 0, count: m * m)
        for (c, src) in order.enumerated() {
            values[c] = a[src * m + src]
            for r in 0..<m { vectors[r * m + c] = v[r * m + src] }
        }
        return (values, vectors)
    }

    /// Lower-triangular L with L·Lᵀ = A (symmetric positive definite m×m), or nil when A is not positive definite.
    public static func cholesky(_ a: [Double], _ m: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: m * m)
        let ok = l.withUnsafeMutableBufferPointer { lb -> Bool in
            let lp = lb.baseAddress!
            return a.withUnsafeBufferPointer { ab -> Bool in
                let ap = ab.baseAddress!
                for j in 0..<m {
                    var s = ap[j * m + j]
                    for t in 0..<j { s -= lp[j * m + t] * lp[j * m + t] }
                    guard s > 0, s.isFinite else { return false }
                    let ljj = s.squareRoot()
                    lp[j * m + j] = ljj
                    // Rows below j only read columns < j of L: independent, parallel for large matrices.
                    Parallel.forRanges(m - j - 1, grain: 64) { range in
                        for off in range {
                            let i = j + 1 + off
                            var x = ap[i * m + j]
                            for t in 0..<j { x -= lp[i * m + t] * lp[j * m + t] }
                            lp[i * m + j] = x / ljj
                        }
                    }
                }
                return true
            }
        }
        return ok ? l : nil
    }

    /// A⁻¹ from the Cholesky factor L of A (A = L·Lᵀ), symmetric m×m.
    public static func inverseFromCholesky(_ l: [Double], _ m: Int) -> [Double] {
        // Columns of L⁻¹ by forward substitution (each column independent), then A⁻¹ = L⁻ᵀ·L⁻¹.
        var linv = [Double](repeating: 0, count: m * m)
        linv.withUnsafeMutableBufferPointer { lb in
            let li = lb.baseAddress!
            l.withUnsafeBufferPointer { lp in
                let lp = lp.baseAddress!
                Parallel.forEach(m) { c in
                    // Solve L·x = e_c; x[r] = 0 for r < c. Stored as row c of (L⁻¹)ᵀ, i.e. li[c*m + r] = (L⁻¹)[r][c].
                    for r in c..<m {
                        var s = r == c ? 1.0 : 0.0
                        for t in c..<r { s -= lp[r * m + t] * li[c * m + t] }
                        li[c * m + r] = s / lp[r * m + r]
                    }
                }
            }
        }
        // (A⁻¹)[i][j] = Σ_r (L⁻¹)[r][i]·(L⁻¹)[r][j] = Σ_r li[i*m + r]·li[j*m + r], r ≥ max(i, j).
        var inv = [Double](repeating: 0, count: m * m)
        inv.withUnsafeMutableBufferPointer { ib in
            let ip = ib.baseAddress!
            linv.withUnsafeBufferPointer { lb in
                let li = lb.baseAddress!
                Parallel.forEach(m) { i in
                    for j in i..<m {
                        var s = 0.0
                        for r in j..<m { s += li[i * m + r] * li[j * m + r] }
                        ip[i * m + j] = s
                    }
                }
            }
        }
        for i in 0..<m { for j in 0..<i { inv[i * m + j] = inv[j * m + i] } }
        return inv
    }

    /// G = Σₙ (xₙ − μ)(xₙ − μ)ᵀ over the N rows of an N×D float matrix, accumulated in double (D×D, row-major).
    /// Rows are taken in blocks of 256 (centred, zero-padded copy that stays in cache); for each block the
    /// 4×16 output tiles of the upper triangle are parallel tasks with float SIMD partial sums added to their
    /// own double tile. Blocks are visited in order, so the result does not depend on the thread count.
    /// A GEMM kernel (AᵀA) could replace this helper.
    public static func gram(_ x: UnsafePointer<Float>, n: Int, d: Int, mean: [Float]? = nil) -> [Double] {
        let stride = (d + 15) / 16 * 16, block = 256
        let tileI = 4, tileJ = 16
        let iTiles = (d + tileI - 1) / tileI, jTiles = stride / tileJ
        var tiles = [(i0: Int, j0: Int)]()
        for ti in 0..<iTiles {
            for tj in 0..<jTiles where tj * tileJ + tileJ > ti * tileI { tiles.append((ti * tileI, tj * tileJ)) }
        }
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: block * stride)
        defer { rows.deallocate() }
        rows.initialize(repeating: 0, count: block * stride)
        // Rows padded to 4 so the tile's i-loads stay inside the block copy.
        var g = [Double](repeating: 0, count: stride * stride)
        let mu = mean ?? [Float](repeating: 0, count: d)
        g.withUnsafeMutableBufferPointer { gb in
            let gp = gb.baseAddress!
            var b0 = 0
            while b0 < n {
                let b1 = min(n, b0 + block), rowsInBlock = b1 - b0
                for r in 0..<rowsInBlock {
                    for j in 0..<d { rows[r * stride + j] = x[(b0 + r) * d + j] - mu[j] }
                }
                Parallel.forEach(tiles.count) { t in
                    let (i0, j0) = tiles[t]
                    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                    for r in 0..<rowsInBlock {
                        let row = rows + r * stride
                        let xj = UnsafeRawPointer(row + j0).loadUnaligned(as: SIMD16<Float>.self)
                        a0.addProduct(SIMD16(repeating: row[i0]), xj)
                        a1.addProduct(SIMD16(repeating: row[i0 + 1]), xj)
                        a2.addProduct(SIMD16(repeating: row[i0 + 2]), xj)
                        a3.addProduct(SIMD16(repeating: row[i0 + 3]), xj)
                    }
                    for c in 0..<tileJ {
                        gp[i0 * stride + j0 + c] += Double(a0[c])
                        gp[(i0 + 1) * stride + j0 + c] += Double(a1[c])
                        gp[(i0 + 2) * stride + j0 + c] += Double(a2[c])
                        gp[(i0 + 3) * stride + j0 + c] += Double(a3[c])
                    }
                }
                b0 = b1
            }
        }
        var out = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in i..<d {
                out[i * d + j] = g[i * stride + j]
                out[j * d + i] = g[i * stride + j]
            }
        }
        return out
    }
}
