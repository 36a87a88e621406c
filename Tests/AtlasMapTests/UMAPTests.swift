import AtlasCore
import AtlasMap
import AtlasReduce
import XCTest

final class UMAPTests: XCTestCase {
    func testNNDescentRecallAgainstBruteForce() throws {
        let (data, _) = MapTestData.clustered(clusters: 10, perCluster: 300, dim: 48, seed: 3)
        for metric in DistanceMetric.allCases {
            let exact = try ExactKNN.build(data, k: 15, metric: metric)
            var search = NNDescent(nNeighbors: 15, metric: metric, seed: 7)
            let approx = try search.build(data)
            XCTAssertGreaterThanOrEqual(approx.recall(against: exact), 0.9, "\(metric) with RP-tree init")
            // NN-descent alone (random init) must converge too.
            search.nTrees = 0
            XCTAssertGreaterThanOrEqual(try search.build(data).recall(against: exact), 0.9, "\(metric) random init")
        }
    }

    func testNNDescentIsDeterministicAcrossThreadCounts() throws {
        let (data, _) = MapTestData.clustered(clusters: 5, perCluster: 300, dim: 32, seed: 4)
        let search = NNDescent(nNeighbors: 10, metric: .cosine, seed: 9)
        let one = try Parallel.withThreads(1) { try search.build(data) }
        let two = try Parallel.withThreads(2) { try search.build(data) }
        XCTAssertEqual(one.indices, two.indices)
        XCTAssertEqual(one.distances.map(\.bitPattern), two.distances.map(\.bitPattern))
    }

    func testExactKNNOnALine() throws {
        let t = Tensor(shape: [5, 1], values: [0, 1, 3, 6, 10])
        let g = try ExactKNN.build(t, k: 2, metric: .euclidean)
        XCTAssertEqual(Array(g.neighbors(of: 0)), [1, 2])
        XCTAssertEqual(Array(g.neighbors(of: 2)), [1, 0])
        XCTAssertEqual(Array(g.neighbors(of: 4)), [3, 2])
        XCTAssertEqual(g.distances[4 * 2 ..< 5 * 2], [4, 7])
    }

    func testUMAPTrustworthinessOnClusters() throws {
        let (data, labels) = MapTestData.clustered()
        for metric in DistanceMetric.allCases {
            var umap = UMAP(nNeighbors: 15, metric: metric, seed: 42)
            // Euclidean goes through umap-learn's exact kNN (N < 4096), cosine through NN-descent.
            if metric == .cosine { umap.exactNeighborThreshold = 0 }
            let emb = try umap.fitTransform(data)
            XCTAssertEqual(emb.shape, [2000, 2])
            let t = try Trustworthiness.score(original: data, embedded: emb, k: 10, metric: metric)
            XCTAssertGreaterThanOrEqual(t, 0.98, "\(metric)")  // brief: ≥ 0.9; measured 0.988
            // Clusters stay together: each point's nearest embedded neighbour shares its label.
            let nn = try ExactKNN.build(emb, k: 1, metric: .euclidean)
            let same = (0..<2000).filter { labels[$0] == labels[Int(nn.indices[$0])] }.count
            XCTAssertGreaterThan(Double(same) / 2000, 0.98, "\(metric)")
            print("UMAP \(metric): trustworthiness@10 = \(t)")
        }
    }

    func testUMAPIsDeterministicAcrossThreadCounts() throws {
        let (data, _) = MapTestData.clustered(clusters: 6, perCluster: 150, dim: 32, seed: 5)
        var umap = UMAP(nNeighbors: 10, metric: .euclidean, nEpochs: 120, seed: 3)
        umap.exactNeighborThreshold = 0
        let one = try Parallel.withThreads(1) { try umap.fitTransform(data) }
        let two = try Parallel.withThreads(2) { try umap.fitTransform(data) }
        XCTAssertEqual(one.toArray().map(\.bitPattern), two.toArray().map(\.bitPattern))
        umap.seed = 4
        XCTAssertNotEqual(try umap.fitTransform(data).toArray(), one.toArray())
    }

    func testUMAPInitializationsAndBadInput() throws {
        let (data, _) = MapTestData.clustered(clusters: 4, perCluster: 100, dim: 16, seed: 6)
        for initialization in [UMAPInitialization.random, .pca] {
            var umap = UMAP(nNeighbors: 10, nEpochs: 200, seed: 1)
            umap.initialization = initialization
            let t = try Trustworthiness.score(original: data, embedded: try umap.fitTransform(data), k: 10)
            XCTAssertGreaterThanOrEqual(t, 0.85, "\(initialization)")
        }
        XCTAssertThrowsError(try UMAP().fitTransform(Tensor(zeros: [3, 4])))
        XCTAssertThrowsError(try UMAP().fitTransform(Tensor(zeros: [10])))
        let bad = Tensor(zeros: [10, 2])
        bad.data[3] = .nan
        XCTAssertThrowsError(try UMAP().fitTransform(bad))
    }
}
