import XCTest
import Foundation
import AtlasCore
import AtlasTestSupport

final class SoftmaxReduceTests: XCTestCase {
    /// Softmax or log-softmax along `axis` in double precision, line by line.
    func naiveSoftmax(_ x: Tensor, axis: Int, log: Bool) -> [Float] {
        let a = axis < 0 ? axis + x.rank : axis
        return LT.indices(x.shape).map { idx in
            var line = [Double]()
            for j in 0..<x.shape[a] { var k = idx; k[a] = j; line.append(Double(x.data[LT.flat(k, x.shape)])) }
            let m = line.max()!, s = line.map { Foundation.exp($0 - m) }.reduce(0, +)
            let v = Double(x.data[LT.flat(idx, x.shape)])
            return Float(log ? v - m - Foundation.log(s) : Foundation.exp(v - m) / s)
        }
    }

    func testSoftmaxAndLogSoftmax() throws {
        for (shape, axis) in [([2, 3, 4], 1), ([2, 3, 4], -1), ([3, 1000], 1), ([4, 197], -1), ([2, 13], 1), ([5], 0), ([2, 3, 4, 5], 0)] {
            let x = TestData.uniform(shape, in: -5...5, seed: UInt64(shape.count + axis + 10))
            let sm = try LT.run(Softmax(axis: axis), [x]), lsm = try LT.run(LogSoftmax(axis: axis), [x])
            LT.assertClose(sm, naiveSoftmax(x, axis: axis, log: false), tol: 1e-6, "softmax \(shape) \(axis)")
            LT.assertClose(lsm, naiveSoftmax(x, axis: axis, log: true), tol: 2e-6, "logsoftmax \(shape) \(axis)")
            if x.count <= 200 {
                LT.assertGradient(Softmax(axis: axis), [x])
                LT.assertGradient(LogSoftmax(axis: axis), [x])
            }
        }
        // Large logits do not overflow.
        let big = Tensor(shape: [1, 3], values: [1000, 1000, -1000])
        XCTAssertEqual(Softmax(axis: 1).forward([big]).toArray(), [0.5, 0.5, 0])
        LT.assertThrows(Softmax(axis: 2), [[2, 3]], "axis 2")
        LT.assertThrows(LogSoftmax(axis: -3), [[2, 3]], "axis -3")
    }

    /// The AVX-512 rows (the default where the CPU has it) against the portable path and the double reference, on
    /// lengths around the 16-lane and 8-lane widths, and bit-identical at any thread count.
    func testSoftmaxRowKernelMatchesThePortablePath() throws {
        guard GEMMKernel.avx512.isAvailable else { throw XCTSkip("no AVX-512 on this machine") }
        for n in [1, 2, 5, 8, 15, 16, 17, 31, 33, 197, 1000] {
            let x = TestData.uniform([3, n], in: -30...30, seed: UInt64(n))
            let fast = GEMM.withKernel(.avx512) { Softmax(axis: -1).forward([x]) }
            let portable = GEMM.withKernel(.avx2) { Softmax(axis: 1).forward([x]) }
            XCTAssertLessThanOrEqual(TestData.maxRelativeError(fast, portable), 1e-6, "n \(n)")
            LT.assertClose(fast, naiveSoftmax(x, axis: 1, log: false), tol: 1e-6, "n \(n)")
            let one = GEMM.withKernel(.avx512) { Parallel.withThreads(1) { Softmax(axis: -1).forward([x]) } }
            XCTAssertEqual(one.toArray().map(\.bitPattern), fast.toArray().map(\.bitPattern), "n \(n), 1 thread")
            // The input gradient y·(g − Σ g·y) against the portable rows.
            let g = TestData.uniform([3, n], in: -1...1, seed: UInt64(n) + 100)
            let grads = [GEMMKernel.avx512, .avx2].map { kernel in
                GEMM.withKernel(kernel) { Softmax(axis: -1).backward([x], output: fast, gradOutput: g, needsGrad: [true])[0]! }
            }
            XCTAssertLessThanOrEqual(TestData.maxRelativeError(grads[0], grads[1]), 1e-5, "gradient n \(n)")
        }
        let big = Tensor(shape: [1, 3], values: [1000, 1000, -1000])
        XCTAssertEqual(GEMM.withKernel(.avx512) { Softmax(axis: 1).forward([big]) }.toArray(), [0.5, 0.5, 0])
    }

    func naiveReduce(_ x: Tensor, axes: [Int], mean: Bool) -> [Float] {
        let reduced = Set((axes.isEmpty ? Array(0..<x.rank) : axes).map { $0 < 0 ? $0 + x.rank : $0 })
        let kept = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        var sums = [Double](repeating: 0, count: Tensor.elementCount(kept))
        for idx in LT.indices(x.shape) {
            let k = idx.enumerated().map { reduced.contains($0.offset) ? 0 : $0.element }
            sums[LT.flat(k, kept)] += Double(x.data[LT.flat(idx, x.shape)])
        }
        let n = Double(x.count / max(sums.count, 1))
        return sums.map { Float(mean ? $0 / n : $0) }
    }

    func testReductions() throws {
        let x = TestData.uniform([2, 3, 4, 5], seed: 7)
        let cases: [([Int], Bool, [Int])] = [
            ([1, 3], true, [2, 1, 4, 1]), ([1, 3], false, [2, 4]), ([], true, [1, 1, 1, 1]), ([], false, []),
            ([-1], false, [2, 3, 4]), ([0], true, [1, 3, 4, 5]), ([0, 1, 2], false, [5]),
        ]
        for (axes, keep, shape) in cases {
            for mean in [false, true] {
                let layer: Layer = mean ? ReduceMean(axes: axes, keepDims: keep) : ReduceSum(axes: axes, keepDims: keep)
                let y = try LT.run(layer, [x])
                XCTAssertEqual(y.shape, shape, "\(layer.name) \(axes) \(keep)")
                LT.assertClose(y, naiveReduce(x, axes: axes, mean: mean), tol: 2e-6, "\(layer.name) \(axes)")
                LT.assertGradient(layer, [x], "\(axes) \(keep)")
            }
        }
        LT.assertThrows(ReduceSum(axes: [4], keepDims: true), [x.shape], "axis 4")
        LT.assertThrows(ReduceMean(axes: [1, -3], keepDims: true), [x.shape], "repeated")
    }

    func testLargeReductionIsExact() throws {
        // Mean over the spatial axes of [4, 32, 57, 61]: every plane sums 3477 values in a fixed order.
        let x = TestData.uniform([4, 32, 57, 61], seed: 8)
        let y = try LT.run(ReduceMean(axes: [2, 3], keepDims: true), [x])
        for p in [0, 77, 127] {
            var s = 0.0
            for i in 0..<(57 * 61) { s += Double(x.data[p * 57 * 61 + i]) }
            XCTAssertEqual(Double(y.data[p]), s / Double(57 * 61), accuracy: 1e-5)
        }
    }
}
