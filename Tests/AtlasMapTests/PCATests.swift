import AtlasCore
import AtlasMap
import AtlasReduce
import XCTest

final class PCATests: XCTestCase {
    /// Orthonormal columns q_0…q_{m−1} in R^d (Gram–Schmidt on seeded normals), row-major m×d.
    private func orthonormal(_ m: Int, _ d: Int, seed: UInt64) -> [[Double]] {
        var rng = SplitMix64(seed: seed)
        var qs = [[Double]]()
        while qs.count < m {
            var v = (0..<d).map { _ in Double(rng.nextNormal()) }
            for q in qs {
                let dot = zip(v, q).reduce(0) { $0 + $1.0 * $1.1 }
                for j in 0..<d { v[j] -= dot * q[j] }
            }
            let nrm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            qs.append(v.map { $0 / nrm })
        }
        return qs
    }

    /// Points μ ± s_i q_i whose sample covariance is exactly Σ λ_i q_i q_iᵀ.
    func testRecoversAKnownCovariance() throws {
        for d in [12, 100] {
            let lambdas: [Double] = [9, 4, 1, 0.25, 0.1, 0.05]
            let m = lambdas.count, n = 2 * m
            let qs = orthonormal(m, d, seed: UInt64(d))
            let mu = (0..<d).map { Double($0 % 5) - 2 }
            let data = Tensor(zeros: [n, d])
            for (i, lambda) in lambdas.enumerated() {
                let s = (lambda * Double(n - 1) / 2).squareRoot()
                for j in 0..<d {
                    data[2 * i, j] = Float(mu[j] + s * qs[i][j])
                    data[2 * i + 1, j] = Float(mu[j] - s * qs[i][j])
                }
            }
            let pca = try PCA(fitting: data, components: 3, seed: 1)
            XCTAssertEqual(pca.count, 3)
            for c in 0..<3 {
                XCTAssertEqual(pca.explainedVariance[c], lambdas[c], accuracy: 1e-4 * lambdas[c], "D \(d) variance \(c)")
                let comp = Array(pca.components[c * d ..< (c + 1) * d])
                let dot = zip(comp, qs[c]).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                XCTAssertEqual(abs(dot), 1, accuracy: 1e-5, "D \(d) axis \(c)")
                // Sign convention: the largest-magnitude entry is positive.
                let big = comp.max { abs($0) < abs($1) }!
                XCTAssertGreaterThan(big, 0)
            }
            for j in 0..<d { XCTAssertEqual(Double(pca.mean[j]), mu[j], accuracy: 1e-5) }
            // Projections of the first pair: ±s_0 on axis 0, 0 elsewhere.
            let proj = try pca.transform(data)
            let s0 = Float((lambdas[0] * Double(n - 1) / 2).squareRoot())
            XCTAssertEqual(abs(proj[0, 0]), s0, accuracy: 1e-4 * s0)
            XCTAssertEqual(proj[0, 0], -proj[1, 0], accuracy: 1e-4)
            XCTAssertEqual(proj[0, 1], 0, accuracy: 1e-4)
            XCTAssertEqual(proj[0, 2], 0, accuracy: 1e-4)
        }
    }

    func testIsDeterministicAndRejectsBadInput() throws {
        let (data, _) = MapTestData.clustered(clusters: 3, perCluster: 50, dim: 80, seed: 2)
        let one = try Parallel.withThreads(1) { try PCA(fitting: data, components: 2) }
        let two = try Parallel.withThreads(2) { try PCA(fitting: data, components: 2) }
        XCTAssertEqual(one.components.map(\.bitPattern), two.components.map(\.bitPattern))
        XCTAssertThrowsError(try PCA(fitting: data, components: 81))
        XCTAssertThrowsError(try PCA(fitting: Tensor(zeros: [1, 4]), components: 1))
        XCTAssertThrowsError(try one.transform(Tensor(zeros: [2, 3])))
    }
}
