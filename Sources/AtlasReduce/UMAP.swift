import AtlasCore

/// How UMAP places points before the SGD layout.
public enum UMAPInitialization: String, Sendable {
    /// Eigenvectors of the graph Laplacian (umap-learn's default).
    case spectral
    /// Uniform in [−10, 10]².
    case random
    /// The first two principal components.
    case pca
}

/// Uniform Manifold Approximation and Projection to 2-D (McInnes et al. 2018), written for Atlas after
/// umap-learn 0.5: approximate kNN (NN-descent, or exact below `exactNeighborThreshold` points as umap-learn),
/// the fuzzy simplicial set (smooth kNN distances, fuzzy union), `find_ab_params`, spectral initialisation
/// and the negative-sampling SGD layout. Parameters and defaults mirror umap-learn's.
///
/// Deterministic: the same data, parameters and seed give bit-identical coordinates at any thread count.
/// Differences from umap-learn, all for determinism under parallelism: random numbers are counter-based
/// hashes, NN-descent applies each round's updates in a fixed order, and the SGD reads other points from a
/// per-epoch snapshot (see `UMAPOptimizer`).
public struct UMAP: Sendable {
    /// Size of the local neighbourhood, counting the point itself (umap-learn's `n_neighbors`).
    public var nNeighbors: Int = 15
    /// Smallest distance between embedded points.
    public var minDist: Double = 0.1
    /// Scale of the embedded points.
    public var spread: Double = 1
    public var metric: DistanceMetric = .euclidean
    /// SGD epochs; nil: 500 for ≤ 10,000 points, else 200.
    public var nEpochs: Int?
    public var seed: UInt64 = 0
    /// Initial SGD learning rate (umap-learn's `learning_rate`).
    public var learningRate: Double = 1
    /// Negative samples per positive sample.
    public var negativeSampleRate: Int = 5
    /// Weight of negative samples (umap-learn's `repulsion_strength`, γ).
    public var repulsionStrength: Double = 1
    /// 1: fuzzy union of the local sets; 0: fuzzy intersection.
    public var setOpMixRatio: Double = 1
    public var localConnectivity: Double = 1
    public var initialization: UMAPInitialization = .spectral
    /// Below this many points the kNN graph is computed exactly (umap-learn: 4096).
    public var exactNeighborThreshold: Int = 4096

    public init(nNeighbors: Int = 15, minDist: Double = 0.1, spread: Double = 1, metric: DistanceMetric = .euclidean,
                nEpochs: Int? = nil, seed: UInt64 = 0) {
        self.nNeighbors = nNeighbors
        self.minDist = minDist
        self.spread = spread
        self.metric = metric
        self.nEpochs = nEpochs
        self.seed = seed
    }

    /// 2-D coordinates ([N, 2]) of the rows of `data` ([N, D], N ≥ 4).
    public func fitTransform(_ data: Tensor) throws -> Tensor {
        let (n, _) = try checkMatrix(data, name: "UMAP input")
        try validate(n: n)
        let table = try neighborTable(data)
        let graph = UMAPGraph.fuzzySimplicialSet(indices: table.indices, distances: table.distances, rows: n,
                                                 k: table.k, setOpMixRatio: Float(setOpMixRatio),
                                                 localConnectivity: localConnectivity)
        return try embed(graph, data: data)
    }

    /// umap-style neighbour table: k = min(nNeighbors, N − 1) columns, column 0 the point itself at distance 0.
    public func neighborTable(_ data: Tensor) throws -> KNNGraph {
        let (n, _) = try checkMatrix(data, name: "UMAP input")
        try validate(n: n)
        let k = min(nNeighbors, n - 1)
        var real: KNNGraph
        if n < exactNeighborThreshold {
            real = try ExactKNN.build(data, k: k - 1, metric: metric)
        } else {
            // pynndescent finds k true neighbours, then drops the farthest to make room for the point itself.
            var search = NNDescent(nNeighbors: k, metric: metric, seed: seed)
            search.maxCandidates = 60
            real = try search.build(data)
        }
        var indices = [Int32](repeating: -1, count: n * k), distances = [Float](repeating: .infinity, count: n * k)
        for i in 0..<n {
            indices[i * k] = Int32(i)
            distances[i * k] = 0
            for s in 1..<k {
                indices[i * k + s] = real.indices[i * real.k + s - 1]
                distances[i * k + s] = real.distances[i * real.k + s - 1]
            }
        }
        return KNNGraph(count: n, k: k, indices: indices, distances: distances)
    }

    /// Lays out a fuzzy graph of the rows of `data` in 2-D: prunes weak edges, initialises, runs the SGD.
    public func embed(_ fuzzy: FuzzyGraph, data: Tensor) throws -> Tensor {
        let (n, d) = try checkMatrix(data, name: "UMAP input")
        guard fuzzy.count == n else { throw ReduceError.invalidShape("graph has \(fuzzy.count) vertices, data \(n) rows") }
        let (a, b) = try UMAPCurve.findABParams(spread: spread, minDist: minDist)
        let defaultEpochs = n <= 10_000 ? 500 : 200
        let epochs = nEpochs ?? defaultEpochs
        // Edges too weak to be sampled even once are dropped (umap-learn).
        let maxWeight = fuzzy.weights.max() ?? 0
        let floor = maxWeight / Float(epochs > 10 ? epochs : defaultEpochs)
        var starts = [0], cols = [Int32](), weights = [Float]()
        for i in 0..<n {
            for e in fuzzy.rowStart[i] ..< fuzzy.rowStart[i + 1] where !(fuzzy.weights[e] < floor) {
                cols.append(fuzzy.columns[e]); weights.append(fuzzy.weights[e])
            }
            starts.append(cols.count)
        }
        let graph = FuzzyGraph(count: n, rowStart: starts, columns: cols, weights: weights)
        var coords = initialLayout(graph, data: data, n: n, d: d)
        // Min–max scale each axis to [0, 10].
        for axis in 0..<2 {
            var lo = Float.infinity, hi = -Float.infinity
            for i in 0..<n { lo = min(lo, coords[2 * i + axis]); hi = max(hi, coords[2 * i + axis]) }
            let span = hi - lo
            for i in 0..<n { coords[2 * i + axis] = span > 0 ? 10 * (coords[2 * i + axis] - lo) / span : 5 }
        }
        let wmax = Double(graph.weights.max() ?? 1)
        let epochsPerSample = graph.weights.map { w -> Double in
            let samples = Double(epochs) * (Double(w) / wmax)
            return samples > 0 ? Double(epochs) / samples : -1
        }
        if epochs > 0 && graph.edgeCount > 0 {
            UMAPOptimizer(graph: graph, epochsPerSample: epochsPerSample, a: Float(a), b: Float(b),
                          gamma: Float(repulsionStrength), initialAlpha: Float(learningRate),
                          negativeSampleRate: Double(negativeSampleRate), nEpochs: epochs, seed: seed)
                .run(&coords)
        }
        guard coords.allSatisfy({ $0.isFinite }) else { throw ReduceError.nonFinite("UMAP layout diverged") }
        return Tensor(shape: [n, 2], values: coords)
    }

    private func validate(n: Int) throws {
        guard n >= 4 else { throw ReduceError.tooFewPoints(needed: 4, got: n) }
        guard nNeighbors >= 2 else { throw ReduceError.invalidParameter("nNeighbors must be ≥ 2, got \(nNeighbors)") }
        guard negativeSampleRate >= 0, learningRate > 0, repulsionStrength >= 0 else {
            throw ReduceError.invalidParameter("negativeSampleRate, learningRate, repulsionStrength must be positive")
        }
        guard (0...1).contains(setOpMixRatio), localConnectivity >= 0 else {
            throw ReduceError.invalidParameter("setOpMixRatio must be in [0, 1] and localConnectivity ≥ 0")
        }
        if let e = nEpochs, e < 0 { throw ReduceError.invalidParameter("nEpochs must be ≥ 0") }
    }

    /// Initial coordinates (row-major N×2): spectral/PCA scaled to max |x| = 10 plus N(0, 1e-4) noise, as umap-learn.
    private func initialLayout(_ graph: FuzzyGraph, data: Tensor, n: Int, d: Int) -> [Float] {
        var rng = SplitMix64(seed: seed, stream: 0x494E_4954)
        func random() -> [Float] { (0..<(2 * n)).map { _ in Float(20 * rng.nextDouble() - 10) } }
        var coords: [Float]?
        switch initialization {
        case .random: return random()
        case .spectral:
            let rows = PaddedRows(data.data, n: n, dim: d, normalize: metric == .cosine)
            coords = UMAPSpectral.layout(graph, data: rows, metric: metric, seed: seed)
        case .pca:
            if let pca = try? PCA(fitting: data, components: 2, seed: seed), let t = try? pca.transform(data) {
                coords = t.toArray()
            }
        }
        guard var c = coords, c.allSatisfy({ $0.isFinite }) else { return random() }
        var m: Float = 0
        for v in c { m = max(m, abs(v)) }
        let scale = m > 0 ? 10 / m : 1
        for i in 0..<c.count { c[i] = c[i] * scale + 1e-4 * rng.nextNormal() }
        return c
    }
}
