import AtlasCore

/// Principal component analysis: the top-k eigenvectors of the sample covariance, a fast linear alternative
/// to UMAP for laying out activations.
///
/// The covariance Σ(x − μ)(x − μ)ᵀ/(N − 1) is accumulated in double; its leading eigenvectors come from a
/// dense Jacobi decomposition when D ≤ 64, else from subspace iteration (k + 8 vectors, Gram–Schmidt in
/// double, Rayleigh–Ritz every 5 steps, until residuals fall below 1e-9·λ₁, at most 1000 steps). Signs are fixed so that each
/// component's largest-magnitude entry is positive (sklearn's convention), so results are deterministic.
public struct PCA: Sendable {
    /// Feature dimension D.
    public let dimension: Int
    /// Per-feature mean μ.
    public let mean: [Float]
    /// Unit principal axes, row-major k×D, by decreasing variance.
    public let components: [Float]
    /// Variance along each axis (covariance eigenvalues).
    public let explainedVariance: [Double]

    /// Number of components k.
    public var count: Int { explainedVariance.count }

    /// Fits `components` axes to the rows of `data` ([N, D], N ≥ 2, 1 ≤ k ≤ D).
    public init(fitting data: Tensor, components k: Int, seed: UInt64 = 0) throws {
        let (n, d) = try checkMatrix(data, name: "PCA input")
        guard n >= 2 else { throw ReduceError.tooFewPoints(needed: 2, got: n) }
        guard k >= 1, k <= d else { throw ReduceError.invalidParameter("components must be in 1...\(d), got \(k)") }
        var mu = [Double](repeating: 0, count: d)
        let p = data.data
        for i in 0..<n { for j in 0..<d { mu[j] += Double(p[i * d + j]) } }
        let meanF = mu.map { Float($0 / Double(n)) }
        var cov = DenseLinearAlgebra.gram(p, n: n, d: d, mean: meanF)
        for t in 0..<cov.count { cov[t] /= Double(n - 1) }
        let (values, vectors) = d <= 64
            ? PCA.denseTop(cov, d, k)
            : PCA.subspaceTop(cov, d, k, seed: seed)
        var comps = [Float](repeating: 0, count: k * d)
        for c in 0..<k {
            var best = 0.0
            for j in 0..<d where abs(vectors[c * d + j]) > abs(best) { best = vectors[c * d + j] }
            let sign = best < 0 ? -1.0 : 1.0
            for j in 0..<d { comps[c * d + j] = Float(sign * vectors[c * d + j]) }
        }
        dimension = d
        mean = meanF
        components = comps
        explainedVariance = values
    }

    /// Projections (x − μ)·axes of the rows of `data` ([N, D]) as [N, k].
    public func transform(_ data: Tensor) throws -> Tensor {
        let (n, d) = try checkMatrix(data, name: "PCA transform input")
        guard d == dimension else { throw ReduceError.invalidShape("PCA was fit on D = \(dimension), got D = \(d)") }
        let k = count, out = Tensor(zeros: [n, k]), src = data.data, dst = out.data
        let mean = self.mean, comps = self.components
        Parallel.forRanges(n, grain: 512) { range in
            var centered = [Float](repeating: 0, count: d)
            for i in range {
                for j in 0..<d { centered[j] = src[i * d + j] - mean[j] }
                for c in 0..<k {
                    var s: Float = 0
                    for j in 0..<d { s += centered[j] * comps[c * d + j] }
                    dst[i * k + c] = s
                }
            }
        }
        return out
    }

    /// Top-k eigenpairs by full Jacobi decomposition; vectors row-major k×D.
    static func denseTop(_ c: [Double], _ d: Int, _ k: Int) -> ([Double], [Double]) {
        let (values, vectors) = DenseLinearAlgebra.symmetricEigen(c, d)
        var out = [Double](repeating: 0, count: k * d)
        for r in 0..<k { for j in 0..<d { out[r * d + j] = vectors[j * d + r] } }
        return (Array(values.prefix(k)), out)
    }

    /// Top-k eigenpairs by subspace iteration with Rayleigh–Ritz; vectors row-major k×D.
    static func subspaceTop(_ c: [Double], _ d: Int, _ k: Int, seed: UInt64) -> ([Double], [Double]) {
        let p = min(d, k + 8)
        var rng = SplitMix64(seed: seed, stream: 0x5043_41)
        // Block stored as p rows of length d.
        var x = [Double](repeating: 0, count: p * d)
        for t in 0..<x.count { x[t] = Double(rng.nextNormal()) }
        func multiply(_ v: [Double]) -> [Double] {
            var y = [Double](repeating: 0, count: p * d)
            y.withUnsafeMutableBufferPointer { yb in
                let yp = yb.baseAddress!
                Parallel.forEach(p) { r in
                    for i in 0..<d {
                        var s = 0.0
                        for j in 0..<d { s += c[i * d + j] * v[r * d + j] }
                        yp[r * d + i] = s
                    }
                }
            }
            return y
        }
        func orthonormalize(_ v: inout [Double]) {
            for _ in 0..<2 {
                for r in 0..<p {
                    for q in 0..<r {
                        var dot = 0.0
                        for j in 0..<d { dot += v[r * d + j] * v[q * d + j] }
                        for j in 0..<d { v[r * d + j] -= dot * v[q * d + j] }
                    }
                    var nrm = 0.0
                    for j in 0..<d { nrm += v[r * d + j] * v[r * d + j] }
                    nrm = nrm.squareRoot()
                    if nrm > 0 { for j in 0..<d { v[r * d + j] /= nrm } }
                }
            }
        }
        orthonormalize(&x)
        var values = [Double](repeating: 0, count: p)
        for iteration in 1...1000 {
            x = multiply(x)
            orthonormalize(&x)
            guard iteration % 5 == 0 else { continue }
            let cx = multiply(x)
            var h = [Double](repeating: 0, count: p * p)
            for r in 0..<p { for q in 0..<p { var s = 0.0; for j in 0..<d { s += x[r * d + j] * cx[q * d + j] }; h[r * p + q] = s } }
            for r in 0..<p { for q in 0..<r { let s = 0.5 * (h[r * p + q] + h[q * p + r]); h[r * p + q] = s; h[q * p + r] = s } }
            let (vals, vecs) = DenseLinearAlgebra.symmetricEigen(h, p)
            var nx = [Double](repeating: 0, count: p * d), ncx = nx
            for r in 0..<p {
                for q in 0..<p {
                    let w = vecs[q * p + r]
                    if w == 0 { continue }
                    for j in 0..<d { nx[r * d + j] += w * x[q * d + j]; ncx[r * d + j] += w * cx[q * d + j] }
                }
            }
            x = nx
            values = vals
            var worst = 0.0
            for r in 0..<k {
                var res = 0.0
                for j in 0..<d { let e = ncx[r * d + j] - vals[r] * nx[r * d + j]; res += e * e }
                worst = max(worst, res.squareRoot())
            }
            if worst <= 1e-9 * max(abs(vals[0]), 1e-300) { break }
        }
        return (Array(values.prefix(k)), Array(x.prefix(k * d)))
    }
}
