import AtlasCore

/// The k nearest neighbours of every point (the point itself excluded), nearest first.
public struct KNNGraph: Sendable, Equatable {
    /// Number of points N.
    public let count: Int
    /// Neighbours per point k.
    public let k: Int
    /// Row-major N×k neighbour indices; −1 where fewer than k were found.
    public var indices: [Int32]
    /// Row-major N×k distances in the chosen metric (+∞ where the index is −1).
    public var distances: [Float]

    public init(count: Int, k: Int, indices: [Int32], distances: [Float]) {
        self.count = count
        self.k = k
        self.indices = indices
        self.distances = distances
    }

    /// Neighbours of point `i`, nearest first.
    public func neighbors(of i: Int) -> ArraySlice<Int32> { indices[i * k ..< (i + 1) * k] }

    /// Fraction of `reference`'s neighbour lists recovered by this graph (mean over points of |A∩B|/k).
    public func recall(against reference: KNNGraph) -> Double {
        precondition(reference.count == count && reference.k == k, "recall: graphs differ in shape")
        var hits = 0
        for i in 0..<count {
            let mine = Set(neighbors(of: i))
            for j in reference.neighbors(of: i) where j >= 0 && mine.contains(j) { hits += 1 }
        }
        return Double(hits) / Double(max(1, count * k))
    }
}

/// One fixed-size max-heap of (distance, index, new-flag) per point, as in NN-descent: the root holds the
/// farthest of the k current neighbours, so a candidate is kept only when it beats the root.
final class NeighborHeaps: @unchecked Sendable {
    let n: Int
    let k: Int
    let idx: UnsafeMutablePointer<Int32>
    let dist: UnsafeMutablePointer<Float>
    let flag: UnsafeMutablePointer<UInt8>

    init(n: Int, k: Int) {
        self.n = n
        self.k = k
        idx = .allocate(capacity: max(1, n * k))
        idx.initialize(repeating: -1, count: max(1, n * k))
        dist = .allocate(capacity: max(1, n * k))
        dist.initialize(repeating: .infinity, count: max(1, n * k))
        flag = .allocate(capacity: max(1, n * k))
        flag.initialize(repeating: 0, count: max(1, n * k))
    }

    deinit {
        idx.deallocate()
        dist.deallocate()
        flag.deallocate()
    }

    /// Pushes (d, j) into row `row` unless it is not closer than the root or already present.
    @inline(__always)
    static func push(_ dist: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>,
                     _ flag: UnsafeMutablePointer<UInt8>, k: Int, d: Float, j: Int32, f: UInt8) -> Bool {
        if !(d < dist[0]) { return false }
        for s in 0..<k where idx[s] == j { return false }
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            if l >= k { break }
            var c = l
            if r < k && dist[r] > dist[l] { c = r }
            if dist[c] > d {
                dist[i] = dist[c]; idx[i] = idx[c]; flag[i] = flag[c]
                i = c
            } else {
                break
            }
        }
        dist[i] = d; idx[i] = j; flag[i] = f
        return true
    }

    @inline(__always)
    func push(row p: Int, d: Float, j: Int32, f: UInt8) -> Bool {
        NeighborHeaps.push(dist + p * k, idx + p * k, flag + p * k, k: k, d: d, j: j, f: f)
    }

    /// Sorts every row nearest first (ties by index), converts reduced distances with `finish`.
    func sortedGraph(finish: (Float) -> Float) -> KNNGraph {
        var outIdx = [Int32](repeating: -1, count: n * k)
        var outDist = [Float](repeating: .infinity, count: n * k)
        let k = self.k, idx = self.idx, dist = self.dist
        outIdx.withUnsafeMutableBufferPointer { oi in
            outDist.withUnsafeMutableBufferPointer { od in
                let oip = oi.baseAddress!, odp = od.baseAddress!
                Parallel.forRanges(n, grain: 2048) { range in
                    var row = [(Float, Int32)]()
                    row.reserveCapacity(k)
                    for p in range {
                        row.removeAll(keepingCapacity: true)
                        for s in 0..<k where idx[p * k + s] >= 0 { row.append((dist[p * k + s], idx[p * k + s])) }
                        row.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                        for (s, e) in row.enumerated() {
                            oip[p * k + s] = e.1
                            odp[p * k + s] = finish(e.0)
                        }
                    }
                }
            }
        }
        return KNNGraph(count: n, k: k, indices: outIdx, distances: outDist)
    }
}

/// Proposed neighbour pairs (a, b, reduced distance) produced by one chunk of work.
struct PairUpdates {
    var a: [Int32] = []
    var b: [Int32] = []
    var d: [Float] = []

    @inline(__always) mutating func append(_ x: Int32, _ y: Int32, _ dist: Float) {
        a.append(x); b.append(y); d.append(dist)
    }
}

extension NeighborHeaps {
    /// Applies pair updates to both endpoints' heaps, deterministically: updates are bucketed by target point
    /// in chunk order, then every target applies its bucket in that order (targets in parallel).
    /// Returns the number of successful pushes.
    func apply(_ lists: [PairUpdates]) -> Int {
        var starts = [Int](repeating: 0, count: n + 1)
        var total = 0
        for l in lists {
            for x in l.a { starts[Int(x) + 1] += 1 }
            for x in l.b { starts[Int(x) + 1] += 1 }
            total += 2 * l.a.count
        }
        if total == 0 { return 0 }
        for i in 0..<n { starts[i + 1] += starts[i] }
        var fill = starts
        var src = [Int32](repeating: 0, count: total)
        var sd = [Float](repeating: 0, count: total)
        for l in lists {
            for u in 0..<l.a.count {
                let x = Int(l.a[u]), y = Int(l.b[u])
                src[fill[x]] = l.b[u]; sd[fill[x]] = l.d[u]; fill[x] += 1
                src[fill[y]] = l.a[u]; sd[fill[y]] = l.d[u]; fill[y] += 1
            }
        }
        let grain = 2048
        let counts = src.withUnsafeBufferPointer { sp in
            sd.withUnsafeBufferPointer { dp in
                starts.withUnsafeBufferPointer { st in
                    Parallel.mapChunks((n + grain - 1) / grain) { c -> Int in
                        var pushed = 0
                        for t in c * grain ..< min(n, (c + 1) * grain) {
                            for e in st[t] ..< st[t + 1] where self.push(row: t, d: dp[e], j: sp[e], f: 1) {
                                pushed += 1
                            }
                        }
                        return pushed
                    }
                }
            }
        }
        return counts.reduce(0, +)
    }
}
