import AtlasCore

/// Top eigenvectors of B = (I + M)/2 for M = D^-½ W D^-½ (eigenvalues of B in [0, 1]) orthogonal to the known
/// top vector v0 = √deg/‖√deg‖, by block subspace iteration on 8 vectors stored as one `SIMD8<Float>` per vertex.
/// Every reduction runs over fixed chunks summed in order (deterministic at any thread count).
struct SubspaceIteration {
    let g: FuzzyGraph
    /// Normalised edge weights w_ij/(√d_i √d_j), aligned with `g.columns`.
    let wn: [Float]
    let v0: [Float]
    let maxIterations = 400
    let tolerance = 1e-4
    let grain = 4096

    func run(seed: UInt64) -> [Float]? {
        let n = g.count
        var x = [SIMD8<Float>](repeating: SIMD8(), count: n)
        var rng = SplitMix64(seed: seed, stream: 0x5350_4543)
        for i in 0..<n { for c in 0..<8 { x[i][c] = rng.nextNormal() } }
        var y = x
        deflate(&x)
        guard orthonormalize(&x) else { return nil }
        var converged = false
        var iteration = 0
        while iteration < maxIterations && !converged {
            iteration += 1
            apply(x, into: &y)
            swap(&x, &y)
            deflate(&x)
            guard orthonormalize(&x) else { return nil }
            if iteration % 10 == 0 || iteration == maxIterations {
                guard let done = rayleighRitz(&x, scratch: &y) else { return nil }
                converged = done
            }
        }
        var out = [Float](repeating: 0, count: 2 * n)
        for i in 0..<n { out[2 * i] = x[i][0]; out[2 * i + 1] = x[i][1] }
        return out.allSatisfy { $0.isFinite } ? out : nil
    }

    /// y = B x.
    private func apply(_ x: [SIMD8<Float>], into y: inout [SIMD8<Float>]) {
        let n = g.count
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                g.rowStart.withUnsafeBufferPointer { rs in
                    g.columns.withUnsafeBufferPointer { cb in
                        wn.withUnsafeBufferPointer { wb in
                            let xp = xb.baseAddress!, yp = yb.baseAddress!
                            Parallel.forRanges(n, grain: grain) { range in
                                for i in range {
                                    var acc = SIMD8<Float>()
                                    for e in rs[i] ..< rs[i + 1] { acc.addProduct(SIMD8(repeating: wb[e]), xp[Int(cb[e])]) }
                                    yp[i] = 0.5 * (xp[i] + acc)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// x ← x − v0 (v0ᵀ x).
    private func deflate(_ x: inout [SIMD8<Float>]) {
        let n = g.count
        let parts = x.withUnsafeBufferPointer { xb in
            Parallel.mapChunks((n + grain - 1) / grain) { c -> SIMD8<Double> in
                var s = SIMD8<Double>()
                for i in c * grain ..< min(n, (c + 1) * grain) {
                    s += Double(v0[i]) * SIMD8<Double>(xb[i])
                }
                return s
            }
        }
        var proj = SIMD8<Double>()
        for p in parts { proj += p }
        let pf = SIMD8<Float>(proj)
        for i in 0..<n { x[i] -= v0[i] * pf }
    }

    /// Σ_i a_i b_iᵀ as an 8×8 double matrix (row-major), reduced over fixed chunks.
    private func cross(_ a: [SIMD8<Float>], _ b: [SIMD8<Float>]) -> [Double] {
        let n = g.count
        let parts = Parallel.mapChunks((n + grain - 1) / grain) { c -> [Double] in
            var s = [SIMD8<Float>](repeating: SIMD8(), count: 8)
            for i in c * grain ..< min(n, (c + 1) * grain) {
                let ai = a[i], bi = b[i]
                for r in 0..<8 { s[r].addProduct(SIMD8(repeating: ai[r]), bi) }
            }
            var out = [Double](repeating: 0, count: 64)
            for r in 0..<8 { for q in 0..<8 { out[r * 8 + q] = Double(s[r][q]) } }
            return out
        }
        var total = [Double](repeating: 0, count: 64)
        for p in parts { for t in 0..<64 { total[t] += p[t] } }
        return total
    }

    /// Cholesky-QR, twice: x ← x R⁻¹ with RᵀR = xᵀx. False when the block lost rank.
    private func orthonormalize(_ x: inout [SIMD8<Float>]) -> Bool {
        for _ in 0..<2 {
            let gram = cross(x, x)
            guard let l = DenseLinearAlgebra.cholesky(gram, 8) else { return false }
            // x_i ← L⁻¹ x_i (row vector x_i times L⁻ᵀ).
            var linv = [Double](repeating: 0, count: 64)
            for c in 0..<8 {
                for r in c..<8 {
                    var s = r == c ? 1.0 : 0.0
                    for t in c..<r { s -= l[r * 8 + t] * linv[t * 8 + c] }
                    linv[r * 8 + c] = s / l[r * 8 + r]
                }
            }
            transform(&x, rowsOf: linv)
        }
        return true
    }

    /// x_i ← M x_i for an 8×8 row-major M (new component r = Σ_q M[r][q] x_i[q]).
    private func transform(_ x: inout [SIMD8<Float>], rowsOf m: [Double]) {
        var cols = [SIMD8<Float>](repeating: SIMD8(), count: 8)
        for q in 0..<8 { for r in 0..<8 { cols[q][r] = Float(m[r * 8 + q]) } }
        let n = g.count
        x.withUnsafeMutableBufferPointer { xb in
            let xp = xb.baseAddress!
            Parallel.forRanges(n, grain: grain) { range in
                for i in range {
                    let v = xp[i]
                    var acc = SIMD8<Float>()
                    for q in 0..<8 { acc.addProduct(cols[q], SIMD8(repeating: v[q])) }
                    xp[i] = acc
                }
            }
        }
    }

    /// Rotates x onto the Ritz vectors of B (decreasing Ritz values); true when the leading two residuals
    /// ‖B u − θ u‖ are below the tolerance.
    private func rayleighRitz(_ x: inout [SIMD8<Float>], scratch bx: inout [SIMD8<Float>]) -> Bool? {
        apply(x, into: &bx)
        var h = cross(x, bx)
        for r in 0..<8 { for q in 0..<r { let s = 0.5 * (h[r * 8 + q] + h[q * 8 + r]); h[r * 8 + q] = s; h[q * 8 + r] = s } }
        let (values, vectors) = DenseLinearAlgebra.symmetricEigen(h, 8)
        guard values.allSatisfy({ $0.isFinite }) else { return nil }
        // New component r = Σ_q V[q][r] x[q]: the transform with rows of Vᵀ.
        var vt = [Double](repeating: 0, count: 64)
        for r in 0..<8 { for q in 0..<8 { vt[r * 8 + q] = vectors[q * 8 + r] } }
        transform(&x, rowsOf: vt)
        transform(&bx, rowsOf: vt)
        var res = SIMD8<Double>()
        let theta = SIMD8<Float>((0..<8).map { Float(values[$0]) })
        for i in 0..<g.count {
            let r = bx[i] - theta * x[i]
            res += SIMD8<Double>(r * r)
        }
        return res[0].squareRoot() < tolerance && res[1].squareRoot() < tolerance
    }
}
