import AtlasCore
import AtlasReduce

/// The whitening matrix of the activation-atlas recipe, S = (AᵀA/N + λI)⁻¹, for turning cell mean activations
/// into icon directions S·mean (the atlas notebooks' `whiten`, there without λ).
///
/// AᵀA/N is the uncentred second moment of the activations (as in the notebooks), accumulated in double.
/// λ = `relativeRegularization` · trace(AᵀA/N)/D, i.e. relative to the mean eigenvalue, which keeps S finite when
/// N < D or channels are dead and is scale-free (scaling A by c scales S by 1/c²). The inverse is computed from a
/// Cholesky factorisation in double precision.
public struct Whitening: Sendable {
    /// Feature dimension D.
    public let dimension: Int
    /// The λ added to the diagonal.
    public let regularization: Double
    /// AᵀA/N, row-major D×D.
    public let secondMoment: [Double]
    /// S = (AᵀA/N + λI)⁻¹, row-major D×D (symmetric).
    public let matrix: [Double]

    /// Whitening for the rows of `activations` ([N, D]).
    public init(activations: Tensor, relativeRegularization: Double = 1e-3) throws {
        let (n, d) = try checkMatrix(activations, name: "activations")
        guard relativeRegularization >= 0, relativeRegularization.isFinite else {
            throw ReduceError.invalidParameter("relativeRegularization must be ≥ 0, got \(relativeRegularization)")
        }
        var c = DenseLinearAlgebra.gram(activations.data, n: n, d: d)
        for t in 0..<c.count { c[t] /= Double(n) }
        var trace = 0.0
        for i in 0..<d { trace += c[i * d + i] }
        guard trace > 0 else { throw ReduceError.notPositiveDefinite("all activations are zero") }
        let lambda = relativeRegularization * trace / Double(d)
        var reg = c
        for i in 0..<d { reg[i * d + i] += lambda }
        guard let l = DenseLinearAlgebra.cholesky(reg, d) else {
            throw ReduceError.notPositiveDefinite("AᵀA/N + λI with λ = \(lambda); raise relativeRegularization")
        }
        dimension = d
        regularization = lambda
        secondMoment = c
        matrix = DenseLinearAlgebra.inverseFromCholesky(l, d)
    }

    /// S·v for each row v of `vectors` ([M, D]), as [M, D].
    public func apply(_ vectors: Tensor) throws -> Tensor {
        let (m, d) = try checkMatrix(vectors, name: "vectors")
        guard d == dimension else { throw ReduceError.invalidShape("whitening is \(dimension)-D, vectors are \(d)-D") }
        let out = Tensor(zeros: [m, d]), src = vectors.data, dst = out.data
        matrix.withUnsafeBufferPointer { sb in
            let s = sb.baseAddress!
            Parallel.forEach(m) { r in
                let v = src + r * d
                for i in 0..<d {
                    var acc = 0.0
                    for j in 0..<d { acc += s[i * d + j] * Double(v[j]) }
                    dst[r * d + i] = Float(acc)
                }
            }
        }
        return out
    }
}
