import AtlasCore

/// Exact k-nearest neighbours by brute force (O(N²·D)); the reference for NN-descent and umap-learn's choice
/// for small inputs.
public enum ExactKNN {
    /// The exact kNN graph of the rows of `data` ([N, D], N > k); ties go to the smaller index.
    public static func build(_ data: Tensor, k: Int, metric: DistanceMetric) throws -> KNNGraph {
        let (n, d) = try checkMatrix(data, name: "kNN input")
        guard k >= 1 else { throw ReduceError.invalidParameter("k must be ≥ 1, got \(k)") }
        guard n > k else { throw ReduceError.tooFewPoints(needed: k + 1, got: n) }
        switch metric {
        case .euclidean: return run(SquaredEuclidean.self, data, n: n, d: d, k: k)
        case .cosine: return run(CosineOnNormalized.self, data, n: n, d: d, k: k)
        }
    }

    private static func run<M: ReducedDistance>(_: M.Type, _ data: Tensor, n: Int, d: Int, k: Int) -> KNNGraph {
        let rows = PaddedRows(data.data, n: n, dim: d, normalize: M.normalizesRows)
        let heaps = NeighborHeaps(n: n, k: k)
        let stride = rows.stride
        Parallel.forRanges(n, grain: 64) { range in
            for i in range {
                let ri = rows.row(i)
                for j in 0..<n where j != i {
                    _ = heaps.push(row: i, d: M.distance(ri, rows.row(j), stride), j: Int32(j), f: 0)
                }
            }
        }
        return heaps.sortedGraph(finish: M.finish)
    }
}

/// How well an embedding keeps local neighbourhoods, as `sklearn.manifold.trustworthiness`:
/// T(k) = 1 − 2/(N·k·(2N − 3k − 1)) · Σᵢ Σ_{j ∈ Uᵢᵏ} max(0, r(i, j) − k), where Uᵢᵏ are the k nearest
/// neighbours of i in the embedding (euclidean) and r(i, j) is the rank of j among i's neighbours in the
/// original space under `metric` (nearest = 1; ties ordered by index). 1 means every embedded neighbourhood
/// is a true neighbourhood.
public enum Trustworthiness {
    /// Trustworthiness@k of `embedded` ([N, E]) for `original` ([N, D]); requires k < N/2 like sklearn.
    public static func score(original: Tensor, embedded: Tensor, k: Int, metric: DistanceMetric = .euclidean) throws -> Double {
        let (n, d) = try checkMatrix(original, name: "original data")
        let (ne, e) = try checkMatrix(embedded, name: "embedding")
        guard ne == n else { throw ReduceError.invalidShape("embedding has \(ne) rows, data \(n)") }
        guard k >= 1, 2 * k < n else {
            throw ReduceError.invalidParameter("k must satisfy 1 ≤ k < N/2 (k = \(k), N = \(n))")
        }
        let penalty: Int
        switch metric {
        case .euclidean: penalty = sum(SquaredEuclidean.self, original, embedded, n: n, d: d, e: e, k: k)
        case .cosine: penalty = sum(CosineOnNormalized.self, original, embedded, n: n, d: d, e: e, k: k)
        }
        let nn = Double(n), kk = Double(k)
        return 1 - 2 / (nn * kk * (2 * nn - 3 * kk - 1)) * Double(penalty)
    }

    private static func sum<M: ReducedDistance>(_: M.Type, _ original: Tensor, _ embedded: Tensor,
                                                  n: Int, d: Int, e: Int, k: Int) -> Int {
        let rows = PaddedRows(original.data, n: n, dim: d, normalize: M.normalizesRows)
        let emb = PaddedRows(embedded.data, n: n, dim: e, normalize: false)
        let stride = rows.stride, estride = emb.stride, grain = 32
        let parts = Parallel.mapChunks((n + grain - 1) / grain) { c -> Int in
            let dist = UnsafeMutablePointer<Float>.allocate(capacity: n)
            let heaps = NeighborHeaps(n: 1, k: k)
            defer { dist.deallocate() }
            var total = 0
            for i in c * grain ..< min(n, (c + 1) * grain) {
                // Embedded neighbours of i.
                heaps.idx.update(repeating: -1, count: k)
                heaps.dist.update(repeating: .infinity, count: k)
                let ei = emb.row(i)
                for j in 0..<n where j != i {
                    _ = heaps.push(row: 0, d: squaredDistancePadded(ei, emb.row(j), estride), j: Int32(j), f: 0)
                }
                // Original-space distances from i.
                let ri = rows.row(i)
                for j in 0..<n { dist[j] = M.distance(ri, rows.row(j), stride) }
                for s in 0..<k {
                    let j = Int(heaps.idx[s]), dj = dist[j]
                    var rank = 1
                    for m in 0..<n where m != i {
                        let dm = dist[m]
                        if dm < dj || (dm == dj && m < j) { rank += 1 }
                    }
                    total += max(0, rank - k)
                }
            }
            return total
        }
        return parts.reduce(0, +)
    }
}
