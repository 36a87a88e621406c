import AtlasCore
import AtlasMap
import XCTest
#if canImport(Glibc)
import Glibc
import AtlasReduce
#endif

/// UMAP's building blocks against numbers from umap-learn 0.5 / sklearn (scripts/fixtures/umap_reference.py).
final class UMAPReferenceTests: XCTestCase {
    func testFindABParamsMatchesUMAPLearn() throws {
        let reference: [(Double, Double, Double, Double)] = [
            (1.0, 0.1, 1.5769434602697652, 0.8950608778515733),
            (1.0, 0.01, 1.8956058664339035, 0.8006378442860499),
            (1.0, 0.05, 1.7502249632754288, 0.8420553925106006),
            (1.0, 0.5, 0.5830300203414425, 1.3341669924314914),
            (2.0, 0.3, 0.3794946886311041, 0.9488152194414622),
        ]
        for (spread, minDist, a, b) in reference {
            let fit = try UMAPCurve.findABParams(spread: spread, minDist: minDist)
            XCTAssertEqual(fit.a, a, accuracy: 1e-5 * a, "a for spread \(spread), min_dist \(minDist)")
            XCTAssertEqual(fit.b, b, accuracy: 1e-5 * b, "b for spread \(spread), min_dist \(minDist)")
        }
        XCTAssertThrowsError(try UMAPCurve.findABParams(spread: 1, minDist: 2))
    }

    func testSmoothKNNDistancesMatchesUMAPLearn() {
        let rows = 6, k = 8
        var d = [Float](repeating: 0, count: rows * k)
        for i in 0..<rows {
            var row = [Float](repeating: 0, count: k)
            for j in 1..<k {
                row[j] = Float(0.1 * Double(i + 1) + 0.05 * Double(j) * (1 + 0.3 * Double(i)) + 0.01 * Double((j * j) % 7))
            }
            if i == 4 { row.sort(); row[1] = 0 }
            row.sort()
            for j in 0..<k { d[i * k + j] = row[j] }
        }
        let (sigmas, rhos) = UMAPGraph.smoothKNNDistances(d, rows: rows, k: k)
        let refSigma: [Float] = [0.15305328369140625, 0.1941051483154297, 0.23505210876464844, 0.2759380340576172,
                                 0.14734268188476562, 0.35761260986328125]
        let refRho: [Float] = [0.1599999964237213, 0.2750000059604645, 0.38999998569488525, 0.5049999952316284,
                               0.7599999904632568, 0.7350000143051147]
        for i in 0..<rows {
            XCTAssertEqual(sigmas[i], refSigma[i], accuracy: 1e-6 * refSigma[i], "sigma \(i)")
            XCTAssertEqual(rhos[i], refRho[i], "rho \(i)")
        }
    }

    func testFuzzySimplicialSetMatchesUMAPLearn() throws {
        let x = Tensor(zeros: [12, 3])
        for i in 0..<12 { for j in 0..<3 { x[i, j] = Float(sin(1.3 * Double(i) + 0.7 * Double(j)) + 0.1 * Double(j)) } }
        var umap = UMAP(nNeighbors: 4)
        umap.exactNeighborThreshold = 4096
        let table = try umap.neighborTable(x)
        let graph = UMAPGraph.fuzzySimplicialSet(indices: table.indices, distances: table.distances, rows: 12, k: 4)
        let reference: [(Int, Int, Float)] = [
            (0, 1, 0.28336942195892334), (0, 5, 1.0), (0, 9, 0.5416293144226074), (0, 10, 0.8926688432693481),
            (1, 0, 0.28336942195892334), (1, 5, 0.08605868369340897), (1, 6, 1.0), (1, 10, 0.613509476184845),
            (1, 11, 0.8930344581604004), (2, 6, 0.4584527611732483), (2, 7, 1.0), (2, 11, 0.5415513515472412),
            (3, 4, 0.7266165614128113), (3, 7, 0.7723388671875), (3, 8, 1.0), (4, 3, 0.7266165614128113),
            (4, 8, 0.7731091976165771), (4, 9, 1.0), (5, 0, 1.0), (5, 1, 0.08605868369340897),
            (5, 9, 0.45836979150772095), (5, 10, 1.0), (6, 1, 1.0), (6, 2, 0.4584527611732483),
            (6, 10, 0.0860515609383583), (6, 11, 1.0), (7, 2, 1.0), (7, 3, 0.7723388671875),
            (7, 8, 0.7257719039916992), (8, 3, 1.0), (8, 4, 0.7731091976165771), (8, 7, 0.7257719039916992),
            (9, 0, 0.5416293144226074), (9, 4, 1.0), (9, 5, 0.45836979150772095), (10, 0, 0.8926688432693481),
            (10, 1, 0.613509476184845), (10, 5, 1.0), (10, 6, 0.0860515609383583), (10, 11, 0.2830786108970642),
            (11, 1, 0.8930344581604004), (11, 2, 0.5415513515472412), (11, 6, 1.0), (11, 10, 0.2830786108970642),
        ]
        XCTAssertEqual(graph.edgeCount, reference.count)
        for (i, j, w) in reference {
            XCTAssertEqual(graph.weight(i, j), w, accuracy: 2e-6, "edge (\(i), \(j))")
        }
    }

    func testTrustworthinessMatchesSklearn() throws {
        let t = Tensor(zeros: [60, 5])
        for i in 0..<60 { for j in 0..<5 { t[i, j] = Float(sin(0.37 * Double(i) * Double(j + 1)) + 0.05 * Double(j)) } }
        let emb = Tensor(zeros: [60, 2])
        for i in 0..<60 { emb[i, 0] = t[i, 0]; emb[i, 1] = t[i, 1] }
        XCTAssertEqual(try Trustworthiness.score(original: t, embedded: emb, k: 5), 0.9572435897435897, accuracy: 1e-12)
        XCTAssertEqual(try Trustworthiness.score(original: t, embedded: emb, k: 5, metric: .cosine),
                       0.9571153846153846, accuracy: 1e-12)
        XCTAssertEqual(try Trustworthiness.score(original: t, embedded: t, k: 5), 1, accuracy: 1e-12)
        XCTAssertThrowsError(try Trustworthiness.score(original: t, embedded: emb, k: 30))
    }
}
