import AtlasCore

/// Approximate k-nearest-neighbour graph by NN-descent (Dong et al. 2011) seeded by a random-projection forest,
/// following pynndescent as umap-learn calls it.
///
/// Parallel and deterministic: every round first builds each point's candidate lists (random priorities are
/// hashes of (seed, round, edge), not draws from a shared generator), then generates proposed pairs per
/// fixed chunk of points against the heaps as they stood at the start of the phase, then applies all
/// proposals bucketed by target in chunk order. Results are bit-identical at any thread count.
public struct NNDescent: Sendable {
    /// Neighbours per point k (the point itself excluded).
    public var nNeighbors: Int
    public var metric: DistanceMetric
    public var seed: UInt64
    /// Random-projection trees for the initial graph; nil: umap-learn's `min(64, 5 + round(√N / 20))`; 0: random init.
    public var nTrees: Int?
    /// Largest leaf; nil: pynndescent's `max(60, min(256, 5k))`.
    public var leafSize: Int?
    /// Candidates sampled per point and round (umap-learn passes 60).
    public var maxCandidates: Int = 60
    /// Rounds; nil: umap-learn's `max(5, round(log2 N))`.
    public var nIterations: Int?
    /// Stop when a round improves fewer than `delta · k · N` heap entries.
    public var delta: Double = 0.001

    public init(nNeighbors: Int = 15, metric: DistanceMetric = .euclidean, seed: UInt64 = 0) {
        self.nNeighbors = nNeighbors
        self.metric = metric
        self.seed = seed
    }

    /// The approximate kNN graph of the rows of `data` ([N, D], N > k).
    public func build(_ data: Tensor) throws -> KNNGraph {
        let (n, d) = try checkMatrix(data, name: "NN-descent input")
        guard nNeighbors >= 1 else { throw ReduceError.invalidParameter("nNeighbors must be ≥ 1, got \(nNeighbors)") }
        guard n > nNeighbors else { throw ReduceError.tooFewPoints(needed: nNeighbors + 1, got: n) }
        guard maxCandidates >= 1 else { throw ReduceError.invalidParameter("maxCandidates must be ≥ 1") }
        switch metric {
        case .euclidean: return run(SquaredEuclidean.self, data, n: n, d: d)
        case .cosine: return run(CosineOnNormalized.self, data, n: n, d: d)
        }
    }

    private func run<M: ReducedDistance>(_: M.Type, _ data: Tensor, n: Int, d: Int) -> KNNGraph {
        let rows = PaddedRows(data.data, n: n, dim: d, normalize: M.normalizesRows)
        let k = nNeighbors
        let heaps = NeighborHeaps(n: n, k: k)
        let trees = nTrees ?? min(64, 5 + Int((Double(n).squareRoot() / 20).rounded()))
        if trees > 0 {
            let leaf = leafSize ?? max(60, min(256, 5 * k))
            let forest = RPForest.build(rows, trees: trees, leafSize: leaf, angular: metric == .cosine, seed: seed)
            for tree in forest { _ = heaps.apply(leafPairs(M.self, rows, tree, heaps)) }
        }
        fillRandom(M.self, rows, heaps)
        let rounds = nIterations ?? max(5, Int(Double(n).log2Rounded))
        for round in 0..<rounds {
            let (newCand, oldCand) = candidates(heaps, round: round)
            let updates = localJoin(M.self, rows, heaps, newCand, oldCand)
            let changed = heaps.apply(updates)
            if Double(changed) <= delta * Double(k * n) { break }
        }
        return heaps.sortedGraph(finish: M.finish)
    }

    /// All pairs inside each leaf that would improve either endpoint's heap.
    private func leafPairs<M: ReducedDistance>(_: M.Type, _ rows: PaddedRows, _ tree: RPTreeLeaves,
                                                 _ heaps: NeighborHeaps) -> [PairUpdates] {
        let grain = 16, stride = rows.stride, k = heaps.k, hd = heaps.dist
        return tree.order.withUnsafeBufferPointer { ob in
            let ord = ob.baseAddress!
            return Parallel.mapChunks((tree.leafCount + grain - 1) / grain) { c -> PairUpdates in
                var out = PairUpdates()
                for l in c * grain ..< min(tree.leafCount, (c + 1) * grain) {
                    let lo = tree.starts[l], hi = tree.starts[l + 1]
                    for i in lo..<hi {
                        let p = Int(ord[i]), rp = rows.row(p)
                        for j in (i + 1)..<hi {
                            let q = Int(ord[j])
                            let dist = M.distance(rp, rows.row(q), stride)
                            if dist < max(hd[p * k], hd[q * k]) { out.append(Int32(p), Int32(q), dist) }
                        }
                    }
                }
                return out
            }
        }
    }

    /// Fills rows that still have empty slots with random points (stream per point).
    private func fillRandom<M: ReducedDistance>(_: M.Type, _ rows: PaddedRows, _ heaps: NeighborHeaps) {
        let n = heaps.n, k = heaps.k, stride = rows.stride, seed = self.seed
        Parallel.forRanges(n, grain: 1024) { range in
            for p in range where heaps.idx[p * k] < 0 {
                var rng = SplitMix64(seed: seed ^ 0x52_414E_444F_4D, stream: UInt64(p))
                var tries = 0
                while heaps.idx[p * k] < 0 && tries < 4 * k + 16 {
                    tries += 1
                    let q = rng.nextInt(below: n)
                    if q == p { continue }
                    _ = heaps.push(row: p, d: M.distance(rows.row(p), rows.row(q), stride), j: Int32(q), f: 1)
                }
            }
        }
    }

    /// Samples up to `maxCandidates` new and old candidates per point from its neighbours and reverse
    /// neighbours (smallest hashed priority wins), then marks sampled new neighbours as old.
    private func candidates(_ heaps: NeighborHeaps, round: Int) -> (CandidateTable, CandidateTable) {
        let n = heaps.n, k = heaps.k, maxC = maxCandidates, seed = self.seed, r = UInt64(round)
        let hidx = heaps.idx, hflag = heaps.flag
        // Reverse adjacency in CSR form (sources in increasing order).
        var revStart = [Int](repeating: 0, count: n + 1)
        for e in 0..<(n * k) where hidx[e] >= 0 { revStart[Int(hidx[e]) + 1] += 1 }
        for i in 0..<n { revStart[i + 1] += revStart[i] }
        var fill = revStart
        var revSrc = [Int32](repeating: 0, count: revStart[n])
        var revFlag = [UInt8](repeating: 0, count: revStart[n])
        for p in 0..<n {
            for s in 0..<k where hidx[p * k + s] >= 0 {
                let q = Int(hidx[p * k + s])
                revSrc[fill[q]] = Int32(p); revFlag[fill[q]] = hflag[p * k + s]; fill[q] += 1
            }
        }
        var maxRev = 0
        for i in 0..<n { maxRev = max(maxRev, revStart[i + 1] - revStart[i]) }
        let newC = CandidateTable(n: n, capacity: maxC), oldC = CandidateTable(n: n, capacity: maxC)
        let scratchCap = k + maxRev
        revSrc.withUnsafeBufferPointer { rsb in
            revFlag.withUnsafeBufferPointer { rfb in
                revStart.withUnsafeBufferPointer { rst in
                    Parallel.forRanges(n, grain: 512) { range in
                        var newList = [(UInt64, Int32)](), oldList = [(UInt64, Int32)]()
                        newList.reserveCapacity(scratchCap); oldList.reserveCapacity(scratchCap)
                        for p in range {
                            newList.removeAll(keepingCapacity: true); oldList.removeAll(keepingCapacity: true)
                            for s in 0..<k where hidx[p * k + s] >= 0 {
                                let q = hidx[p * k + s]
                                let pri = hashWords(seed, r, UInt64(p), UInt64(q))
                                if hflag[p * k + s] != 0 { newList.append((pri, q)) } else { oldList.append((pri, q)) }
                            }
                            for e in rst[p] ..< rst[p + 1] {
                                let q = rsb[e]
                                let pri = hashWords(seed, r, UInt64(q), UInt64(p))
                                if rfb[e] != 0 { newList.append((pri, q)) } else { oldList.append((pri, q)) }
                            }
                            newC.store(row: p, select(&newList, maxC))
                            oldC.store(row: p, select(&oldList, maxC))
                            // Neighbours sampled as new candidates are old from now on.
                            let nc = newC.row(p), count = newC.count[p]
                            for s in 0..<k where hflag[p * k + s] != 0 {
                                let q = hidx[p * k + s]
                                for c in 0..<count where nc[c] == q { hflag[p * k + s] = 0; break }
                            }
                        }
                    }
                }
            }
        }
        return (newC, oldC)
    }

    /// Deduplicates by index (keeping the smaller priority) and keeps the `limit` smallest priorities.
    private func select(_ list: inout [(UInt64, Int32)], _ limit: Int) -> ArraySlice<(UInt64, Int32)> {
        list.sort { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        var w = 0
        for i in 0..<list.count where w == 0 || list[i].1 != list[w - 1].1 {
            list[w] = list[i]; w += 1
        }
        list.removeLast(list.count - w)
        if list.count > limit {
            list.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        }
        return list.prefix(limit)
    }

    /// Proposes new×new and new×old candidate pairs of every point that beat either endpoint's farthest neighbour.
    private func localJoin<M: ReducedDistance>(_: M.Type, _ rows: PaddedRows, _ heaps: NeighborHeaps,
                                                 _ newC: CandidateTable, _ oldC: CandidateTable) -> [PairUpdates] {
        let n = heaps.n, k = heaps.k, hd = heaps.dist, stride = rows.stride, grain = 256
        return Parallel.mapChunks((n + grain - 1) / grain) { c -> PairUpdates in
            var out = PairUpdates()
            for p in c * grain ..< min(n, (c + 1) * grain) {
                let nc = newC.row(p), nn = newC.count[p], oc = oldC.row(p), no = oldC.count[p]
                for i in 0..<nn {
                    let a = Int(nc[i]), ra = rows.row(a), ta = hd[a * k]
                    for j in (i + 1)..<max(i + 1, nn) {
                        let b = Int(nc[j])
                        let dist = M.distance(ra, rows.row(b), stride)
                        if dist < max(ta, hd[b * k]) { out.append(Int32(a), Int32(b), dist) }
                    }
                    for j in 0..<no {
                        let b = Int(oc[j])
                        if b == a { continue }
                        let dist = M.distance(ra, rows.row(b), stride)
                        if dist < max(ta, hd[b * k]) { out.append(Int32(a), Int32(b), dist) }
                    }
                }
            }
            return out
        }
    }
}

/// Up to `capacity` candidate indices per point.
final class CandidateTable: @unchecked Sendable {
    let capacity: Int
    let indices: UnsafeMutablePointer<Int32>
    let count: UnsafeMutablePointer<Int>

    init(n: Int, capacity: Int) {
        self.capacity = capacity
        indices = .allocate(capacity: max(1, n * capacity))
        count = .allocate(capacity: max(1, n))
        count.initialize(repeating: 0, count: max(1, n))
    }

    deinit { indices.deallocate(); count.deallocate() }

    @inline(__always) func row(_ p: Int) -> UnsafeMutablePointer<Int32> { indices + p * capacity }

    func store(row p: Int, _ list: ArraySlice<(UInt64, Int32)>) {
        let dst = row(p)
        var c = 0
        for e in list { dst[c] = e.1; c += 1 }
        count[p] = c
    }
}

extension Double {
    /// round(log2(self)), as umap-learn computes its NN-descent round count.
    var log2Rounded: Double {
        var x = self, e = 0.0
        while x >= 2 { x /= 2; e += 1 }
        // x in [1, 2): log2 x ≥ 0.5 exactly when x ≥ √2.
        return x >= 2.0.squareRoot() ? e + 1 : e
    }
}
