import AtlasCore
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// UMAP's stochastic gradient descent on the fuzzy cross-entropy (umap-learn `optimize_layout_euclidean`):
/// every edge is sampled every `epochsPerSample` epochs (attraction), each sample followed by
/// `negativeSampleRate` random repulsions; gradients clipped to ±4; learning rate decays linearly to 0.
///
/// Parallel and deterministic (umap-learn's parallel mode is a data race; its seeded mode is serial).
/// Each epoch starts from a snapshot of all positions. Vertices are split into fixed chunks; a vertex walks
/// its own edges in column order, moving only itself, and reads every other point from the snapshot.
/// So no position is ever written by two tasks or read while written, and the result is bit-identical at
/// any thread count. umap-learn also moves the tail of each sampled edge; here the symmetric graph's reverse
/// edge (same weight, so sampled in the same epochs) moves the tail instead, and each attraction sample takes
/// two steps (the head's own step plus the one umap-learn gives it as the tail of the reverse edge), which
/// keeps umap-learn's 2 : negativeSampleRate balance of attraction to repulsion.
/// Negative samples are hashes of (seed, edge, epoch, sample), so no generator state is shared.
struct UMAPOptimizer {
    let graph: FuzzyGraph
    let epochsPerSample: [Double]
    let a: Float
    let b: Float
    let gamma: Float
    let initialAlpha: Float
    let negativeSampleRate: Double
    let nEpochs: Int
    let seed: UInt64

    func run(_ embedding: inout [Float]) {
        let n = graph.count, edges = graph.edgeCount
        let epochsPerNegative = epochsPerSample.map { $0 / negativeSampleRate }
        var nextSample = epochsPerSample
        var nextNegative = epochsPerNegative
        var snapshot = embedding
        let grain = 256
        let a = self.a, b = self.b, gamma = self.gamma, seed = self.seed, un = UInt64(n)
        graph.rowStart.withUnsafeBufferPointer { rsb in
        graph.columns.withUnsafeBufferPointer { cb in
        epochsPerSample.withUnsafeBufferPointer { eps in
        epochsPerNegative.withUnsafeBufferPointer { epn in
        nextSample.withUnsafeMutableBufferPointer { nsb in
        nextNegative.withUnsafeMutableBufferPointer { nnb in
            let rs = rsb.baseAddress!, cols = cb.baseAddress!, ns = nsb.baseAddress!, nn = nnb.baseAddress!
            let ep = eps.baseAddress!, en = epn.baseAddress!
            _ = edges
            for epoch in 0..<nEpochs {
                let alpha = initialAlpha * (1 - Float(epoch) / Float(nEpochs))
                let now = Double(epoch)
                snapshot.withUnsafeMutableBufferPointer { sb in
                    embedding.withUnsafeMutableBufferPointer { eb in
                        let snap = sb.baseAddress!, emb = eb.baseAddress!
                        snap.update(from: emb, count: 2 * n)
                        Parallel.forRanges(n, grain: grain) { range in
                            for j in range {
                                var cx = emb[2 * j], cy = emb[2 * j + 1]
                                for e in rs[j] ..< rs[j + 1] where ns[e] <= now {
                                    let k = Int(cols[e])
                                    let ox = snap[2 * k], oy = snap[2 * k + 1]
                                    for _ in 0..<2 {
                                        let dx = cx - ox, dy = cy - oy
                                        let d2 = dx * dx + dy * dy
                                        if d2 > 0 {
                                            let pb = powf(d2, b)
                                            let coeff = -2 * a * b * (pb / d2) / (a * pb + 1)
                                            cx += clip(coeff * dx) * alpha
                                            cy += clip(coeff * dy) * alpha
                                        }
                                    }
                                    ns[e] += ep[e]
                                    let negatives = Int((now - nn[e]) / en[e])
                                    if negatives > 0 {
                                        let base = hashWords(seed, UInt64(e), UInt64(epoch))
                                        for p in 0..<negatives {
                                            let draw = mixWord(base &+ UInt64(p) &* 0xD1B5_4A32_D192_ED03)
                                            let kk = Int(((draw >> 32) &* un) >> 32)
                                            if kk == j { continue }
                                            let dx = cx - snap[2 * kk], dy = cy - snap[2 * kk + 1]
                                            let d2 = dx * dx + dy * dy
                                            if d2 > 0 {
                                                let coeff = 2 * gamma * b / ((0.001 + d2) * (a * powf(d2, b) + 1))
                                                if coeff > 0 {
                                                    cx += clip(coeff * dx) * alpha
                                                    cy += clip(coeff * dy) * alpha
                                                }
                                            }
                                        }
                                        nn[e] += Double(negatives) * en[e]
                                    }
                                }
                                emb[2 * j] = cx
                                emb[2 * j + 1] = cy
                            }
                        }
                    }
                }
            }
        }}}}}}
    }

    @inline(__always) private func clip(_ v: Float) -> Float { min(4, max(-4, v)) }
}
