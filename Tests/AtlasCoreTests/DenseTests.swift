import AtlasCore
import AtlasTestSupport
import XCTest

final class DenseTests: XCTestCase {
    // MARK: Gemm

    func gemmReference(_ g: Gemm, _ a: Tensor) -> Tensor {
        let (m, k) = g.transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let n = g.transB ? g.b.shape[0] : g.b.shape[1]
        let y = Tensor(zeros: [m, n])
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = g.transA ? a[p, i] : a[i, p]
                    let bv = g.transB ? g.b[j, p] : g.b[p, j]
                    s += Double(av) * Double(bv)
                }
                var v = Double(g.alpha) * s
                if let c = g.c {
                    let rows = c.rank == 2 ? c.shape[0] : 1, cols = c.rank >= 1 ? c.shape[c.rank - 1] : 1
                    v += Double(g.beta) * Double(c.data[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)])
                }
                y[i, j] = Float(v)
            }
        }
        return y
    }

    /// A batch row gets the same bits alone as inside any batch (forward and input gradient): feature-vis icons and
    /// resumed attributions rely on it, and small products would otherwise take a path that sums in another order.
    func testGemmRowsAreBatchInvariant() throws {
        let (k, n) = (300, 1000)
        let g = Gemm(b: TestData.uniform([n, k], seed: 61), c: TestData.uniform([n], seed: 62), alpha: 1, beta: 1,
                     transA: false, transB: true)
        let batch = TestData.uniform([6, k], seed: 63), gy = TestData.uniform([6, n], seed: 64)
        let y = g.forward([batch]), gx = g.backward([batch], output: y, gradOutput: gy, needsGrad: [true])[0]!
        for rows in [0..<1, 2..<5, 5..<6] {
            let part = batch.slice(batch: rows).copy()
            let yp = g.forward([part])
            let gp = g.backward([part], output: yp, gradOutput: gy.slice(batch: rows).copy(), needsGrad: [true])[0]!
            XCTAssertEqual(yp.toArray().map(\.bitPattern), y.slice(batch: rows).toArray().map(\.bitPattern), "rows \(rows)")
            XCTAssertEqual(gp.toArray().map(\.bitPattern), gx.slice(batch: rows).toArray().map(\.bitPattern), "rows \(rows)")
        }
    }

    func testGemmForwardAndGradient() throws {
        let (m, k, n) = (5, 19, 11)
        let cShapes: [[Int]?] = [nil, [n], [m, 1], [m, n], [], [1, n]]
        var seed: UInt64 = 1
        for transA in [false, true] {
            for transB in [false, true] {
                for cShape in cShapes {
                    let b = TestData.uniform(transB ? [n, k] : [k, n], seed: seed)
                    let c = cShape.map { TestData.uniform($0, seed: seed + 1) }
                    let g = Gemm(b: b, c: c, alpha: 0.7, beta: -1.5, transA: transA, transB: transB)
                    let a = TestData.uniform(transA ? [k, m] : [m, k], seed: seed + 2)
                    XCTAssertEqual(try g.outputShape([a.shape]), [m, n])
                    XCTAssertLessThan(TestData.maxRelativeError(g.forward([a]), gemmReference(g, a)), 1e-5)
                    let report = GradientCheck.check(g, inputs: [a], samples: 40)
                    XCTAssertLessThan(report.maxError, 1e-2, "transA \(transA) transB \(transB): \(report)")
                    seed += 3
                }
            }
        }
        // A larger product through the blocked path.
        let g = Gemm(b: TestData.uniform([300, 70], seed: 50), c: TestData.uniform([300], seed: 51), alpha: 1, beta: 1,
                     transA: false, transB: true)
        let a = TestData.uniform([40, 70], seed: 52)
        XCTAssertLessThan(TestData.maxRelativeError(g.forward([a]), gemmReference(g, a)), 1e-5)
        XCTAssertEqual(g.multiplyAdds([[40, 70]]), 40 * 300 * 70)
    }

    /// A transposed B (torch's Linear) is stored as [K, N] once: the same bits as that B given untransposed.
    func testGemmTransposedBIsStoredUntransposed() throws {
        let (m, k, n) = (37, 300, 290)
        let bt = TestData.uniform([n, k], seed: 70), c = TestData.uniform([n], seed: 71)
        let b = Tensor(shape: [k, n], values: (0..<(k * n)).map { bt.data[($0 % n) * k + $0 / n] })
        let given = Gemm(b: bt, c: c, alpha: 0.5, beta: 1, transA: false, transB: true)
        let plain = Gemm(b: b, c: c, alpha: 0.5, beta: 1, transA: false, transB: false)
        XCTAssertFalse(given.transB)
        XCTAssertEqual(given.b.shape, [k, n])
        XCTAssertEqual(given.b.toArray(), b.toArray())
        let a = TestData.uniform([m, k], seed: 72), gy = TestData.uniform([m, n], seed: 73)
        let y = given.forward([a])
        XCTAssertEqual(y.toArray().map(\.bitPattern), plain.forward([a]).toArray().map(\.bitPattern))
        XCTAssertLessThan(TestData.maxRelativeError(y, gemmReference(given, a)), 1e-5)
        let gx = given.backward([a], output: y, gradOutput: gy, needsGrad: [true])[0]!
        let gp = plain.backward([a], output: y, gradOutput: gy, needsGrad: [true])[0]!
        XCTAssertEqual(gx.toArray().map(\.bitPattern), gp.toArray().map(\.bitPattern))
    }

    func testGemmRejectsBadShapes() {
        let g = Gemm(b: Tensor(zeros: [4, 3]), c: Tensor(zeros: [2, 3]), alpha: 1, beta: 1, transA: false, transB: false)
        XCTAssertThrowsError(try g.outputShape([[2, 5]]))      // K
        XCTAssertThrowsError(try g.outputShape([[1, 2, 4]]))   // rank
        XCTAssertThrowsError(try g.outputShape([[3, 4]]))      // C rows 2 vs M 3
        XCTAssertEqual(try g.outputShape([[2, 4]]), [2, 3])
    }

    // MARK: MatMul

    /// numpy matmul by definition, one output element at a time.
    func matmulReference(_ a: Tensor, _ b: Tensor) -> Tensor {
        let a2 = a.rank == 1 ? [1, a.shape[0]] : a.shape, b2 = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let (m, k, n) = (a2[a2.count - 2], a2[a2.count - 1], b2[b2.count - 1])
        let ab = Array(a2.dropLast(2)), bb = Array(b2.dropLast(2))
        let r = max(ab.count, bb.count)
        let af = Array(repeating: 1, count: r - ab.count) + ab, bf = Array(repeating: 1, count: r - bb.count) + bb
        let batch = zip(af, bf).map { max($0, $1) }
        let outShape = batch + (a.rank == 1 ? [] : [m]) + (b.rank == 1 ? [] : [n])
        let y = Tensor(zeros: outShape)
        let count = batch.reduce(1, *)
        for t in 0..<count {
            var rest = t, ai = 0, bi = 0, aMul = 1, bMul = 1
            for d in stride(from: r - 1, through: 0, by: -1) {
                let idx = rest % batch[d]
                rest /= batch[d]
                ai += (af[d] == 1 ? 0 : idx) * aMul
                bi += (bf[d] == 1 ? 0 : idx) * bMul
                aMul *= af[d]
                bMul *= bf[d]
            }
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k {
                        s += Double(a.data[ai * m * k + i * k + p]) * Double(b.data[bi * k * n + p * n + j])
                    }
                    y.data[(t * m + i) * n + j] = Float(s)
                }
            }
        }
        return y
    }

    static let matmulShapes: [([Int], [Int], [Int])] = [
        ([3, 4], [4, 5], [3, 5]),
        ([2, 3, 4], [4, 5], [2, 3, 5]),
        ([4], [4, 5], [5]),
        ([2, 3, 4], [4], [2, 3]),
        ([4], [4], []),
        ([2, 1, 3, 4], [3, 4, 2], [2, 3, 3, 2]),
        ([1, 3, 4], [2, 4, 5], [2, 3, 5]),
        ([3, 4], [2, 4, 6], [2, 3, 6]),
        ([5], [2, 5, 3], [2, 3]),
        ([30, 40], [40, 50], [30, 50]),
    ]

    func testMatMulForwardAndGradients() throws {
        let mm = MatMul()
        for (i, (sa, sb, expected)) in DenseTests.matmulShapes.enumerated() {
            let a = TestData.uniform(sa, seed: UInt64(10 * i + 1)), b = TestData.uniform(sb, seed: UInt64(10 * i + 2))
            XCTAssertEqual(try mm.outputShape([sa, sb]), expected)
            let y = mm.forward([a, b])
            XCTAssertEqual(y.shape, expected)
            XCTAssertLessThan(TestData.maxRelativeError(y, matmulReference(a, b)), 1e-5, "\(sa) × \(sb)")
            for wrt in 0..<2 {
                let report = GradientCheck.check(mm, inputs: [a, b], wrt: wrt, samples: 40)
                XCTAssertLessThan(report.maxError, 1e-2, "\(sa) × \(sb) wrt \(wrt): \(report)")
            }
        }
    }

    /// Bias and activation in the epilogue give the bits of a separate Add and activation, on every GEMM path
    /// (stacked tokens, a batch of products, a C large enough for the row-block order).
    func testMatMulFusedActivationGivesTheSameBits() throws {
        for (a, b) in [([2, 50, 70], [70, 300]), ([3, 2, 40, 33], [3, 2, 33, 20]), ([1, 900, 400], [400, 2400])] {
            let x = TestData.uniform(a, seed: 90), w = TestData.uniform(b, seed: 91), bias = TestData.uniform([b.last!], seed: 92)
            for activation in [Relu(), Sigmoid()] as [any ElementwiseLayer] {
                for layer in [MatMul(), MatMul(bias: bias)] {
                    let fused = layer.forward([x, w], activation: activation)
                    let separate = activation.forward([layer.forward([x, w])])
                    XCTAssertEqual(fused.toArray().map(\.bitPattern), separate.toArray().map(\.bitPattern), "\(a) \(b)")
                }
            }
        }
    }

    func testMatMulRejectsBadShapes() {
        let mm = MatMul()
        XCTAssertThrowsError(try mm.outputShape([[3, 4], [5, 2]]))
        XCTAssertThrowsError(try mm.outputShape([[2, 3, 4], [3, 4, 2]]))
        XCTAssertThrowsError(try mm.outputShape([[], [3]]))
        XCTAssertThrowsError(try mm.outputShape([[3, 4]]))
    }
}
