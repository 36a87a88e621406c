import AtlasCore
import XCTest

final class TensorStorageTests: XCTestCase {
    /// Large buffers are reused after a tensor dies (the pool), so a zero-filled tensor must be zeroed even when
    /// it gets the stale buffer of an earlier one — on both the serial and the parallel fill path.
    func testZeroedTensorsAreZeroAfterReuse() {
        for count in [300_000, 3_000_000] {   // 1.2 MB and 12 MB: above the pool's and the parallel fill's thresholds
            var seen = Set<UnsafeMutablePointer<Float>>()
            for round in 0..<3 {
                do {
                    let dirty = Tensor(uninitialized: [count])
                    seen.insert(dirty.data)
                    dirty.fill(Float(round + 1))
                }
                let clean = Tensor(zeros: [count])
                seen.insert(clean.data)
                XCTAssertTrue(clean.toArray().allSatisfy { $0 == 0 }, "\(count) floats, round \(round)")
                let filled = Tensor(shape: [count], repeating: 2.5)
                XCTAssertTrue(filled.toArray().allSatisfy { $0 == 2.5 })
            }
            XCTAssertLessThan(seen.count, 6, "freed buffers of the same size should be reused")
        }
    }

    /// A request a little smaller than a kept buffer (a render's final score on the untransformed image) reuses it,
    /// zero-filled as asked; one far smaller does not take it. (An odd size of about 30 MB, so no buffer other tests
    /// left in the pool fits the request better.)
    func testSlightlySmallerRequestsReuseKeptBuffers() {
        let big = 7_654_321
        var kept: UnsafeMutablePointer<Float>
        do {
            let t = Tensor(uninitialized: [big])
            kept = t.data
            t.fill(7)
        }
        do {
            let t = Tensor(zeros: [big - big / 8])
            XCTAssertEqual(t.data, kept, "a request within the pool's slack reuses the kept buffer")
            XCTAssertTrue(t.toArray().allSatisfy { $0 == 0 })
            kept = t.data
        }
        let small = Tensor(zeros: [big / 2])
        XCTAssertNotEqual(small.data, kept, "half the size is beyond the slack")
        XCTAssertTrue(small.toArray().allSatisfy { $0 == 0 })
    }

    /// `atlas` sets a fixed mmap threshold at start-up so freed activation buffers go back to the system; the C
    /// shim must really reach glibc's mallopt (a missing feature macro once compiled it to a silent no-op).
    func testLargeBlocksGoBackToTheSystemOnGlibc() {
        #if os(Linux) && canImport(Glibc)
        XCTAssertTrue(MemoryStats.returnLargeBlocksToSystem())
        #endif
    }
}
