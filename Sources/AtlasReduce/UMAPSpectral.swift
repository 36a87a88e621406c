import AtlasCore
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// UMAP's spectral initialisation (umap-learn `spectral_layout`): the eigenvectors of the normalised graph
/// Laplacian L = I − D^-½ W D^-½ for its 2nd and 3rd smallest eigenvalues. A disconnected graph is laid out like
/// umap-learn's `multi_component_layout`: components are placed by a spectral embedding of their centroids
/// (or at ±unit axes when there are at most 4; by PCA of the centroids beyond 256), each embedded spectrally within half the distance to its
/// nearest neighbouring component.
///
/// Eigenvectors come from block subspace iteration (8 vectors, float SIMD matvecs, Cholesky-QR
/// re-orthonormalisation in double, Rayleigh–Ritz every 10 steps, the known top vector √deg deflated) on
/// (I + D^-½ W D^-½)/2; small graphs (≤ 256 vertices) use a dense Jacobi eigen-decomposition.
/// Returns nil when the solver produced non-finite values (the caller falls back to random init).
enum UMAPSpectral {
    static func layout(_ graph: FuzzyGraph, data: PaddedRows, metric: DistanceMetric, seed: UInt64) -> [Float]? {
        let n = graph.count
        let (labels, comps) = components(graph)
        if comps == 1 { return vectors(graph, seed: seed) }
        let meta = metaLayout(labels: labels, comps: comps, data: data, metric: metric)
        var out = [Float](repeating: 0, count: 2 * n)
        var members = [[Int]](repeating: [], count: comps)
        for i in 0..<n { members[labels[i]].append(i) }
        for c in 0..<comps {
            var range = Double.infinity
            for o in 0..<comps where o != c {
                let dx = meta[2 * c] - meta[2 * o], dy = meta[2 * c + 1] - meta[2 * o + 1]
                let dist = (dx * dx + dy * dy).squareRoot()
                if dist > 0 { range = min(range, dist) }
            }
            range = range.isFinite ? range / 2 : 1
            let idx = members[c]
            var local: [Float]? = nil
            if idx.count > 3 { local = vectors(subgraph(graph, idx), seed: seed &+ UInt64(c)) }
            if let emb = local {
                var m: Float = 0
                for v in emb { m = max(m, abs(v)) }
                let scale = m > 0 ? Float(range) / m : 0
                for (r, i) in idx.enumerated() {
                    out[2 * i] = emb[2 * r] * scale + Float(meta[2 * c])
                    out[2 * i + 1] = emb[2 * r + 1] * scale + Float(meta[2 * c + 1])
                }
            } else {
                var rng = SplitMix64(seed: seed, stream: 0x434F_4D50 &+ UInt64(c))
                for i in idx {
                    out[2 * i] = Float(meta[2 * c] + range * (2 * rng.nextDouble() - 1))
                    out[2 * i + 1] = Float(meta[2 * c + 1] + range * (2 * rng.nextDouble() - 1))
                }
            }
        }
        return out
    }

    /// Connected components by union-find; labels numbered in order of each component's smallest vertex.
    static func components(_ g: FuzzyGraph) -> (labels: [Int], count: Int) {
        var parent = Array(0..<g.count)
        func find(_ x: Int) -> Int {
            var r = x
            while parent[r] != r { r = parent[r] }
            var y = x
            while parent[y] != r { let next = parent[y]; parent[y] = r; y = next }
            return r
        }
        for i in 0..<g.count {
            for e in g.rowStart[i] ..< g.rowStart[i + 1] {
                let a = find(i), b = find(Int(g.columns[e]))
                if a != b { parent[max(a, b)] = min(a, b) }
            }
        }
        var labels = [Int](repeating: -1, count: g.count), byRoot = [Int: Int]()
        for i in 0..<g.count {
            let r = find(i)
            if let l = byRoot[r] { labels[i] = l } else { labels[i] = byRoot.count; byRoot[r] = labels[i] }
        }
        return (labels, byRoot.count)
    }

    static func subgraph(_ g: FuzzyGraph, _ idx: [Int]) -> FuzzyGraph {
        var local = [Int: Int32]()
        for (r, i) in idx.enumerated() { local[i] = Int32(r) }
        var starts = [0], cols = [Int32](), ws = [Float]()
        for i in idx {
            for e in g.rowStart[i] ..< g.rowStart[i + 1] {
                if let c = local[Int(g.columns[e])] { cols.append(c); ws.append(g.weights[e]) }
            }
            starts.append(cols.count)
        }
        return FuzzyGraph(count: idx.count, rowStart: starts, columns: cols, weights: ws)
    }

    /// Positions of the components: ±unit axes for ≤ 4, else a spectral embedding of the centroid affinity
    /// exp(−d²) (sklearn `SpectralEmbedding` on a precomputed affinity: vectors / √deg, scaled by the max).
    static func metaLayout(labels: [Int], comps: Int, data: PaddedRows, metric: DistanceMetric) -> [Double] {
        var meta = [Double](repeating: 0, count: 2 * comps)
        if comps <= 4 {
            let table: [(Double, Double)] = [(1, 0), (0, 1), (-1, 0), (0, -1)]
            let order = comps <= 2 ? [0, 2] : [0, 1, 2, 3]
            for c in 0..<comps { meta[2 * c] = table[order[c]].0; meta[2 * c + 1] = table[order[c]].1 }
            return meta
        }
        let dim = data.dim
        var centroids = [Double](repeating: 0, count: comps * dim), sizes = [Double](repeating: 0, count: comps)
        for i in 0..<labels.count {
            let row = data.row(i), c = labels[i]
            sizes[c] += 1
            for j in 0..<dim { centroids[c * dim + j] += Double(row[j]) }
        }
        for c in 0..<comps { for j in 0..<dim { centroids[c * dim + j] /= sizes[c] } }
        if comps > 256 {
            // A dense eigen-decomposition of thousands of components is too slow: place them by PCA instead.
            let t = Tensor(shape: [comps, dim], values: centroids.map { Float($0) })
            guard let pca = try? PCA(fitting: t, components: min(2, dim)), let xy = try? pca.transform(t) else { return meta }
            var m: Float = 0
            for v in xy.toArray() { m = max(m, abs(v)) }
            for c in 0..<comps { for k in 0..<min(2, dim) { meta[2 * c + k] = Double(xy[c, k] / max(m, 1e-30)) } }
            return meta
        }
        var affinity = [Double](repeating: 0, count: comps * comps)
        for a in 0..<comps {
            for b in 0..<comps {
                var dot = 0.0, na = 0.0, nb = 0.0, sq = 0.0
                for j in 0..<dim {
                    let x = centroids[a * dim + j], y = centroids[b * dim + j]
                    dot += x * y; na += x * x; nb += y * y; sq += (x - y) * (x - y)
                }
                let dist = metric == .cosine ? (na > 0 && nb > 0 ? 1 - dot / (na * nb).squareRoot() : 1) : sq.squareRoot()
                affinity[a * comps + b] = exp(-dist * dist)
            }
        }
        var deg = [Double](repeating: 0, count: comps)
        for a in 0..<comps { for b in 0..<comps { deg[a] += affinity[a * comps + b] } }
        var m = affinity
        for a in 0..<comps { for b in 0..<comps { m[a * comps + b] /= (deg[a] * deg[b]).squareRoot() } }
        let (_, vecs) = DenseLinearAlgebra.symmetricEigen(m, comps)
        var maxValue = -Double.infinity
        for k in 0..<2 {
            // Deterministic sign: the largest-magnitude entry positive (sklearn's vector sign flip).
            var best = 0.0
            for a in 0..<comps where abs(vecs[a * comps + k + 1]) > abs(best) { best = vecs[a * comps + k + 1] }
            let sign = best < 0 ? -1.0 : 1.0
            for a in 0..<comps {
                meta[2 * a + k] = sign * vecs[a * comps + k + 1] / deg[a].squareRoot()
                maxValue = max(maxValue, meta[2 * a + k])
            }
        }
        if maxValue > 0 && maxValue.isFinite { for i in 0..<meta.count { meta[i] /= maxValue } }
        return meta
    }

    /// Two spectral coordinates per vertex of a connected graph (row-major n×2), nil on numerical failure.
    static func vectors(_ g: FuzzyGraph, seed: UInt64) -> [Float]? {
        let n = g.count
        if n < 3 { return nil }
        var deg = [Double](repeating: 0, count: n)
        for i in 0..<n { for e in g.rowStart[i] ..< g.rowStart[i + 1] { deg[i] += Double(g.weights[e]) } }
        guard deg.allSatisfy({ $0 > 0 }) else { return nil }
        let sq = deg.map { $0.squareRoot() }
        if n <= 256 {
            var m = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for e in g.rowStart[i] ..< g.rowStart[i + 1] {
                    let j = Int(g.columns[e])
                    m[i * n + j] += Double(g.weights[e]) / (sq[i] * sq[j])
                }
            }
            let (_, v) = DenseLinearAlgebra.symmetricEigen(m, n)
            var out = [Float](repeating: 0, count: 2 * n)
            for i in 0..<n { out[2 * i] = Float(v[i * n + 1]); out[2 * i + 1] = Float(v[i * n + 2]) }
            return out.allSatisfy { $0.isFinite } ? out : nil
        }
        var wn = [Float](repeating: 0, count: g.edgeCount)
        for i in 0..<n {
            for e in g.rowStart[i] ..< g.rowStart[i + 1] {
                wn[e] = Float(Double(g.weights[e]) / (sq[i] * sq[Int(g.columns[e])]))
            }
        }
        let norm = sq.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let v0 = sq.map { Float($0 / norm) }
        return SubspaceIteration(g: g, wn: wn, v0: v0).run(seed: seed)
    }
}
