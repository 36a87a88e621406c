import XCTest
import Foundation
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

    /// Small jobs back to back, some after a pause long enough for the pool's workers to park, and jobs submitted
    /// from two threads at once (one of them runs on Dispatch): every index is run exactly once, every time.
    func testBackToBackAndConcurrentJobs() {
        @Sendable func rounds(_ count: Int, tag: Int) -> Bool {
            var ok = true
            for round in 0..<count {
                let n = 1 + (round + tag) % 9
                let hits = Tensor(zeros: [n])
                let p = hits.data
                Parallel.forEach(n) { p[$0] += 1 }
                ok = ok && hits.toArray().allSatisfy { $0 == 1 }
                if round % 50 == 0 { usleep(300) }
            }
            return ok
        }
        for threads in [2, 3] {
            XCTAssertTrue(Parallel.withThreads(threads) { rounds(1000, tag: 0) }, "threads \(threads)")
        }
        let group = DispatchGroup()
        let results = Tensor(zeros: [2])
        for t in 0..<2 {
            DispatchQueue.global().async(group: group) { results.data[t] = rounds(500, tag: t) ? 1 : 0 }
        }
        group.wait()
        XCTAssertEqual(results.toArray(), [1, 1])
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
