import AtlasCore
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A sparse weighted graph in CSR form (rows sorted by column).
public struct FuzzyGraph: Sendable, Equatable {
    /// Number of vertices N.
    public let count: Int
    /// Row `i` is `columns[rowStart[i] ..< rowStart[i + 1]]`.
    public var rowStart: [Int]
    public var columns: [Int32]
    public var weights: [Float]

    public init(count: Int, rowStart: [Int], columns: [Int32], weights: [Float]) {
        self.count = count
        self.rowStart = rowStart
        self.columns = columns
        self.weights = weights
    }

    /// Number of stored (directed) edges.
    public var edgeCount: Int { columns.count }

    /// Weight of edge (i, j), 0 when absent.
    public func weight(_ i: Int, _ j: Int) -> Float {
        for e in rowStart[i] ..< rowStart[i + 1] where columns[e] == Int32(j) { return weights[e] }
        return 0
    }
}

/// UMAP's high-dimensional fuzzy simplicial set (umap-learn `smooth_knn_dist`, `compute_membership_strengths`,
/// `fuzzy_simplicial_set`). Neighbour tables here are umap-style: column 0 is the point itself at distance 0.
public enum UMAPGraph {
    /// Tolerance of the σ binary search (umap-learn's SMOOTH_K_TOLERANCE).
    public static let smoothKTolerance = 1e-5
    /// Lower bound on σ relative to the mean neighbour distance (umap-learn's MIN_K_DIST_SCALE).
    public static let minKDistScale: Float = 1e-3

    /// Per point, ρ (distance to the `localConnectivity`-th nonzero neighbour) and σ such that
    /// Σ_{j ≥ 1} exp(−max(0, dⱼ − ρ)/σ) = log2(k)·bandwidth, found by bisection (`nIter` steps at most).
    /// `distances` is row-major rows×k, each row sorted ascending, column 0 the point itself.
    public static func smoothKNNDistances(_ distances: [Float], rows: Int, k: Int, nIter: Int = 64,
                                          localConnectivity: Double = 1, bandwidth: Double = 1) -> (sigmas: [Float], rhos: [Float]) {
        precondition(distances.count == rows * k, "smoothKNNDistances: \(distances.count) values for \(rows)×\(k)")
        let target = log2(Double(k)) * bandwidth
        var sigmas = [Float](repeating: 0, count: rows)
        var rhos = [Float](repeating: 0, count: rows)
        var meanAll = 0.0
        for v in distances { meanAll += Double(v) }
        meanAll /= Double(max(1, distances.count))
        let meanDistances = Float(meanAll)
        sigmas.withUnsafeMutableBufferPointer { sb in
            rhos.withUnsafeMutableBufferPointer { rb in
                distances.withUnsafeBufferPointer { db in
                    let sp = sb.baseAddress!, rp = rb.baseAddress!, dp = db.baseAddress!
                    Parallel.forRanges(rows, grain: 1024) { range in
                        for i in range {
                            let row = dp + i * k
                            var nonZero = 0
                            for j in 0..<k where row[j] > 0 { nonZero += 1 }
                            var rho: Float = 0
                            if Double(nonZero) >= localConnectivity {
                                let index = Int(localConnectivity.rounded(.down))
                                let interpolation = localConnectivity - Double(index)
                                // The index-th nonzero distance (rows are sorted, so nonzero ones come last).
                                let first = k - nonZero
                                if index > 0 {
                                    rho = row[first + index - 1]
                                    if interpolation > smoothKTolerance {
                                        rho += Float(interpolation) * (row[first + index] - row[first + index - 1])
                                    }
                                } else {
                                    rho = Float(interpolation) * row[first]
                                }
                            } else if nonZero > 0 {
                                var m: Float = 0
                                for j in 0..<k { m = max(m, row[j]) }
                                rho = m
                            }
                            rp[i] = rho
                            var lo = 0.0, hi = Double(Float.greatestFiniteMagnitude), mid = 1.0
                            for _ in 0..<nIter {
                                var psum = 0.0
                                for j in 1..<k {
                                    let d = row[j] - rho
                                    psum += d > 0 ? exp(-(Double(d) / mid)) : 1
                                }
                                if abs(psum - target) < smoothKTolerance { break }
                                if psum > target {
                                    hi = mid
                                    mid = (lo + hi) / 2
                                } else {
                                    lo = mid
                                    if hi >= Double(Float.greatestFiniteMagnitude) { mid *= 2 } else { mid = (lo + hi) / 2 }
                                }
                            }
                            var sigma = Float(mid)
                            if rho > 0 {
                                var mean = 0.0
                                for j in 0..<k { mean += Double(row[j]) }
                                let floor = minKDistScale * Float(mean / Double(k))
                                if sigma < floor { sigma = floor }
                            } else if sigma < minKDistScale * meanDistances {
                                sigma = minKDistScale * meanDistances
                            }
                            sp[i] = sigma
                        }
                    }
                }
            }
        }
        return (sigmas, rhos)
    }

    /// The symmetric fuzzy graph: memberships exp(−max(0, d − ρᵢ)/σᵢ) of each point's neighbours (0 for itself),
    /// combined as mix·(P + Pᵀ − P∘Pᵀ) + (1 − mix)·P∘Pᵀ (mix 1: fuzzy union). Zero weights are dropped.
    public static func fuzzySimplicialSet(indices: [Int32], distances: [Float], rows n: Int, k: Int,
                                          setOpMixRatio: Float = 1, localConnectivity: Double = 1) -> FuzzyGraph {
        let (sigmas, rhos) = smoothKNNDistances(distances, rows: n, k: k, localConnectivity: localConnectivity)
        // Directed memberships, bucketed by row for P and by column for Pᵀ (both in row-major order).
        var rowCount = [Int](repeating: 0, count: n + 1)
        var entries = [(i: Int32, j: Int32, v: Float)]()
        entries.reserveCapacity(n * k)
        for i in 0..<n {
            for s in 0..<k {
                let j = indices[i * k + s]
                if j < 0 || Int(j) == i { continue }
                let d = distances[i * k + s]
                let v: Float = (d - rhos[i] <= 0 || sigmas[i] == 0) ? 1 : expf(-((d - rhos[i]) / sigmas[i]))
                if v == 0 { continue }
                entries.append((Int32(i), j, v))
                rowCount[i + 1] += 1
                rowCount[Int(j) + 1] += 1
            }
        }
        for i in 0..<n { rowCount[i + 1] += rowCount[i] }
        // Each slot: (column, value, isTranspose).
        var fill = rowCount
        var cols = [Int32](repeating: 0, count: rowCount[n])
        var vals = [Float](repeating: 0, count: rowCount[n])
        var kind = [UInt8](repeating: 0, count: rowCount[n])
        for e in entries {
            let i = Int(e.i), j = Int(e.j)
            cols[fill[i]] = e.j; vals[fill[i]] = e.v; kind[fill[i]] = 0; fill[i] += 1
            cols[fill[j]] = e.i; vals[fill[j]] = e.v; kind[fill[j]] = 1; fill[j] += 1
        }
        var rowStart = [Int](repeating: 0, count: n + 1)
        var outCols = [Int32](), outVals = [Float]()
        outCols.reserveCapacity(rowCount[n]); outVals.reserveCapacity(rowCount[n])
        var slot = [Int]()
        for i in 0..<n {
            slot.removeAll(keepingCapacity: true)
            slot.append(contentsOf: rowCount[i] ..< rowCount[i + 1])
            slot.sort { cols[$0] < cols[$1] || (cols[$0] == cols[$1] && kind[$0] < kind[$1]) }
            var t = 0
            while t < slot.count {
                let c = cols[slot[t]]
                var a: Float = 0, b: Float = 0
                while t < slot.count && cols[slot[t]] == c {
                    if kind[slot[t]] == 0 { a += vals[slot[t]] } else { b += vals[slot[t]] }
                    t += 1
                }
                let prod = a * b
                let w = setOpMixRatio * (a + b - prod) + (1 - setOpMixRatio) * prod
                if w != 0 { outCols.append(c); outVals.append(w) }
            }
            rowStart[i + 1] = outCols.count
        }
        return FuzzyGraph(count: n, rowStart: rowStart, columns: outCols, weights: outVals)
    }
}
