import XCTest
import AtlasCore

final class ParallelTests: XCTestCase {
    func testForEachVisitsEveryIndexOnce() {
        for threads in [1, 2, 5] {
            let hits = Tensor(zeros: [1000])
            let p = hits.data
            Parallel.withThreads(threads) { Parallel.forEach(1000) { p[$0] += 1 } }
            XCTAssertEqual(hits.toArray(), [Float](repeating: 1, count: 1000), "threads \(threads)")
        }
    }

    func testChunkedReductionIsBitIdenticalAcrossThreadCounts() {
        let x = Tensor(zeros: [100_003])
        var rng = SplitMix64(seed: 5)
        for i in 0..<x.count { x.data[i] = rng.nextNormal() * 1e3 }
        func sum() -> Float {
            let parts = Parallel.mapChunks((x.count + 4095) / 4096) { c -> Float in
                var s: Float = 0
                for i in c * 4096 ..< min(x.count, (c + 1) * 4096) { s += x.data[i] }
                return s
            }
            return parts.reduce(0, +)
        }
        let one = Parallel.withThreads(1) { sum() }
        for threads in [2, 3, 16] {
            XCTAssertEqual(Parallel.withThreads(threads) { sum() }.bitPattern, one.bitPattern)
        }
    }

    func testNestedCallsRunSerially() {
        let out = Tensor(zeros: [8, 8])
        let p = out.data
        Parallel.withThreads(4) {
            Parallel.forEach(8) { i in Parallel.forEach(8) { j in p[i * 8 + j] = Float(i * 8 + j) } }
        }
        XCTAssertEqual(out.toArray(), (0..<64).map(Float.init))
    }

    func testRandomStreamsAreReproducibleAndDistinct() {
        var a = SplitMix64(seed: 42, stream: 1), b = SplitMix64(seed: 42, stream: 1), c = SplitMix64(seed: 42, stream: 2)
        let xa = (0..<4).map { _ in a.next() }, xb = (0..<4).map { _ in b.next() }, xc = (0..<4).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
    }
}
