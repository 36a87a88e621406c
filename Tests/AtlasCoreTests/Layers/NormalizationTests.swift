import XCTest
import Foundation
import AtlasCore
import AtlasTestSupport

final class NormalizationTests: XCTestCase {
    /// The ONNX LRN definition in double precision.
    func naiveLRN(_ x: Tensor, size: Int, alpha: Double, beta: Double, bias: Double) -> [Float] {
        let c = x.shape[1]
        return LT.indices(x.shape).map { idx in
            var sq = 0.0
            let lo = max(0, idx[1] - (size - 1) / 2)
            let hi = min(c - 1, idx[1] + Int((Double(size - 1) / 2).rounded(.up)))
            for q in lo...hi {
                var j = idx
                j[1] = q
                let v = Double(x.data[LT.flat(j, x.shape)])
                sq += v * v
            }
            let v = Double(x.data[LT.flat(idx, x.shape)])
            return Float(v / Foundation.pow(bias + alpha / Double(size) * sq, beta))
        }
    }

    let lrnCases: [(shape: [Int], size: Int, beta: Float)] = [
        ([2, 7, 5, 3], 5, 0.75),   // plane of 15: vector blocks overlap at the end
        ([1, 6, 9, 5], 4, 0.75),   // even size: one more channel above than below
        ([2, 5, 2, 3], 3, 0.6),    // plane below 8: scalar path, generic power
        ([1, 9, 4, 4], 1, 0.5),
        ([1, 3, 8, 2], 11, 1),     // window wider than the channel count
        ([2, 10, 5, 7], 9, 0.5),   // plane of 35: 16-lane blocks, the last one overlapping
        ([1, 4, 4, 4], 2, 0.75),   // exactly one 16-lane block
    ]

    func testLRNForwardMatchesDefinition() throws {
        for (k, cs) in lrnCases.enumerated() {
            let x = TestData.uniform(cs.shape, in: -3...3, seed: UInt64(k))
            let layer = LRN(size: cs.size, alpha: 0.3, beta: cs.beta, bias: 1.5)
            let y = try LT.run(layer, [x])
            LT.assertClose(y, naiveLRN(x, size: cs.size, alpha: 0.3, beta: Double(cs.beta), bias: 1.5), tol: 2e-6, "\(cs)")
        }
    }

    func testLRNBackwardMatchesFiniteDifferences() {
        for (k, cs) in lrnCases.enumerated() {
            let x = TestData.uniform(cs.shape, in: -3...3, seed: UInt64(10 + k))
            LT.assertGradient(LRN(size: cs.size, alpha: 0.3, beta: cs.beta, bias: 1.5), [x], "\(cs)")
        }
    }

    func testLRNShapeErrors() {
        LT.assertThrows(LRN(size: 0, alpha: 1e-4, beta: 0.75, bias: 1), [[1, 3, 4, 4]], "size")
        LT.assertThrows(LRN(size: 3, alpha: 1e-4, beta: 0.75, bias: 1), [[3, 4]], "rank")
    }

    func batchNorm(_ c: Int, seed: UInt64) -> BatchNorm {
        BatchNorm(scale: TestData.uniform([c], in: 0.5...2, seed: seed), bias: TestData.uniform([c], seed: seed + 1),
                  mean: TestData.uniform([c], seed: seed + 2), variance: TestData.uniform([c], in: 0.1...3, seed: seed + 3),
                  epsilon: 1e-3)
    }

    func testBatchNormMatchesDefinition() throws {
        for (k, shape) in [[2, 3, 5, 7], [4, 6], [1, 5, 3, 3, 2]].enumerated() {
            let bn = batchNorm(shape[1], seed: UInt64(k * 10))
            let x = TestData.uniform(shape, seed: UInt64(k))
            let y = try LT.run(bn, [x])
            let expected = LT.indices(shape).map { idx -> Float in
                let c = idx[1], v = Double(x.data[LT.flat(idx, shape)])
                let norm = (v - Double(bn.mean.data[c])) / (Double(bn.variance.data[c]) + 1e-3).squareRoot()
                return Float(norm * Double(bn.scale.data[c]) + Double(bn.bias.data[c]))
            }
            LT.assertClose(y, expected, tol: 2e-6, "\(shape)")
            LT.assertGradient(bn, [x], "\(shape)")
        }
    }

    func testBatchNormShapeErrors() {
        LT.assertThrows(batchNorm(3, seed: 1), [[2, 4, 5, 5]], "3 values for 4 channels")
        LT.assertThrows(batchNorm(3, seed: 1), [[3]], "rank ≥ 2")
    }
}
