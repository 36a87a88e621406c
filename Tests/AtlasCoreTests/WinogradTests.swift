import AtlasCore
import AtlasTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Winograd F(2×2, 3×3) and F(4×4, 3×3) convolution against the im2col path and a double-precision reference.
///
/// Tolerances are on the scale of the result, max |error| / max |y| (as the network fixtures measure): F(2, 3)'s
/// transforms have entries 0, ±1 (and G's ½, applied in double), so it rounds like im2col (measured 3e-7 vs
/// im2col's 4.5e-7 on these shapes; bound 2e-6). F(4, 3) scales input differences by up to 5 in Bᵀ and products
/// by up to 8 in Aᵀ, so its intermediates are ~10× the result and its error ~15× im2col's (measured 7e-6;
/// bound 3e-5).
final class WinogradTests: XCTestCase {
    struct Shape {
        var n = 1
        var c: Int
        var h: Int
        var w: Int
        var m: Int
        var pads = [1, 1, 1, 1]
        var bias = true
    }

    static let tolerance: [ConvAlgorithm: Float] = [.winograd2: 2e-6, .winograd4: 3e-5]

    static let shapes: [Shape] = [
        Shape(c: 3, h: 9, w: 11, m: 5),
        Shape(n: 2, c: 7, h: 13, w: 10, m: 13, pads: [0, 0, 0, 0]),
        Shape(n: 3, c: 5, h: 8, w: 8, m: 6, pads: [1, 0, 2, 1]),                 // asymmetric
        Shape(c: 4, h: 1, w: 1, m: 3),                                          // 1×1 plane
        Shape(n: 2, c: 6, h: 2, w: 2, m: 9, bias: false),                       // 2×2 plane
        Shape(c: 3, h: 3, w: 3, m: 2, pads: [0, 0, 0, 0]),                      // 1×1 output
        Shape(n: 2, c: 9, h: 7, w: 15, m: 11, pads: [2, 2, 2, 2]),
        Shape(c: 5, h: 17, w: 5, m: 7, pads: [3, 0, 1, 3]),                     // pads above 2: gradient crops dY
        Shape(n: 2, c: 37, h: 19, w: 23, m: 21),
        Shape(n: 2, c: 64, h: 37, w: 41, m: 64),                                // several chunks, split mid-row
        Shape(c: 24, h: 1, w: 40, m: 17, pads: [1, 1, 1, 0]),                   // one row of tiles, odd output width
    ]

    func make(_ s: Shape, seed: UInt64) -> (Conv2D, Tensor) {
        let weight = TestData.uniform([s.m, s.c, 3, 3], seed: seed)
        let bias = s.bias ? TestData.uniform([s.m], seed: seed + 1) : nil
        let conv = Conv2D(weight: weight, bias: bias, stride: [1, 1], pads: s.pads, dilation: [1, 1], groups: 1)
        return (conv, TestData.uniform([s.n, s.c, s.h, s.w], seed: seed + 2))
    }

    /// The stride-1 3×3 correlation in double.
    func reference(_ conv: Conv2D, _ x: Tensor) throws -> Tensor {
        let out = try conv.outputShape([x.shape])
        let (n, c, h, w, m) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], out[1])
        let y = Tensor(zeros: out)
        for b in 0..<n {
            for o in 0..<m {
                for i in 0..<out[2] {
                    for j in 0..<out[3] {
                        var s = Double(conv.bias?.data[o] ?? 0)
                        for ci in 0..<c {
                            for ki in 0..<3 {
                                let ih = i - conv.pads[0] + ki
                                guard ih >= 0 && ih < h else { continue }
                                for kj in 0..<3 {
                                    let iw = j - conv.pads[1] + kj
                                    guard iw >= 0 && iw < w else { continue }
                                    s += Double(conv.weight.data[((o * c + ci) * 3 + ki) * 3 + kj])
                                        * Double(x.data[((b * c + ci) * h + ih) * w + iw])
                                }
                            }
                        }
                        y.data[((b * m + o) * out[2] + i) * out[3] + j] = Float(s)
                    }
                }
            }
        }
        return y
    }

    func forward(_ algorithm: ConvAlgorithm, _ conv: Conv2D, _ x: Tensor, relu: Bool = false) -> Tensor {
        Conv2D.withAlgorithm(algorithm) { conv.forward([x], relu: relu) }
    }

    func inputGradient(_ algorithm: ConvAlgorithm, _ conv: Conv2D, _ x: Tensor, _ dy: Tensor) -> Tensor {
        Conv2D.withAlgorithm(algorithm) { conv.backward([x], output: dy, gradOutput: dy, needsGrad: [true])[0]! }
    }

    /// max |a − b| / max |b|: the error on the scale of the result (as the network fixtures measure it).
    func scaledError(_ a: Tensor, _ b: Tensor) -> Float {
        let diff = zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? 0
        return diff / max(b.toArray().map(abs).max() ?? 0, .leastNormalMagnitude)
    }

    func testForwardMatchesDirectAndReference() throws {
        for algorithm in [ConvAlgorithm.winograd2, .winograd4] {
            var worst: Float = 0, worstDirect: Float = 0
            for (i, s) in WinogradTests.shapes.enumerated() {
                let (conv, x) = make(s, seed: UInt64(20 * i + 3))
                let y = forward(algorithm, conv, x), direct = forward(.direct, conv, x)
                XCTAssertEqual(y.shape, direct.shape, "\(s)")
                let ref = try reference(conv, x)
                let err = scaledError(y, ref)
                worst = max(worst, err)
                worstDirect = max(worstDirect, scaledError(direct, ref))
                XCTAssertLessThan(err, WinogradTests.tolerance[algorithm]!, "\(algorithm) \(s)")
                XCTAssertLessThan(scaledError(y, direct), WinogradTests.tolerance[algorithm]!, "\(algorithm) \(s)")
            }
            print("\(algorithm) forward: max error / max |y| vs double reference \(worst) (im2col \(worstDirect))")
        }
    }

    func testInputGradientMatchesDirect() {
        for algorithm in [ConvAlgorithm.winograd2, .winograd4] {
            var worst: Float = 0
            for (i, s) in WinogradTests.shapes.enumerated() {
                let (conv, x) = make(s, seed: UInt64(20 * i + 5))
                let dy = TestData.uniform(try! conv.outputShape([x.shape]), seed: UInt64(i))
                let dx = inputGradient(algorithm, conv, x, dy), direct = inputGradient(.direct, conv, x, dy)
                XCTAssertEqual(dx.shape, x.shape)
                let err = scaledError(dx, direct)
                worst = max(worst, err)
                XCTAssertLessThan(err, WinogradTests.tolerance[algorithm]!, "\(algorithm) \(s)")
            }
            print("\(algorithm) input gradient: max error / max |dx| vs im2col \(worst)")
        }
    }

    func testInputGradientFiniteDifferences() {
        let picks = [0, 2, 4, 7]
        for algorithm in [ConvAlgorithm.winograd2, .winograd4] {
            Conv2D.withAlgorithm(algorithm) {
                for i in picks {
                    let (conv, x) = make(WinogradTests.shapes[i], seed: UInt64(400 + i))
                    let report = GradientCheck.check(conv, inputs: [x], samples: 80)
                    XCTAssertLessThan(report.maxError, 1e-2, "\(algorithm) \(WinogradTests.shapes[i]): \(report)")
                }
            }
        }
    }

    /// Fused bias + ReLU equals the Winograd convolution followed by a separate Relu, bit for bit.
    func testFusedReluMatchesSeparateRelu() {
        let cases = [WinogradTests.shapes[2], WinogradTests.shapes[4], WinogradTests.shapes[8], WinogradTests.shapes[9]]
        for kernel in GEMMKernel.allCases where kernel.isAvailable {
            GEMM.withKernel(kernel) {
                for algorithm in [ConvAlgorithm.winograd2, .winograd4] {
                    for (i, s) in cases.enumerated() {
                        let (conv, x) = make(s, seed: UInt64(500 + i))
                        let separate = Relu().forward([forward(algorithm, conv, x)])
                        let fused = forward(algorithm, conv, x, relu: true)
                        XCTAssertEqual(fused.toArray().map(\.bitPattern), separate.toArray().map(\.bitPattern),
                                       "\(kernel) \(algorithm) \(s)")
                        XCTAssertTrue(fused.toArray().contains(0) && fused.toArray().contains { $0 > 0 }, "\(s)")
                    }
                }
            }
        }
    }

    func testBitIdenticalAcrossThreadCounts() {
        let cases = [WinogradTests.shapes[9], Shape(n: 3, c: 16, h: 28, w: 28, m: 24), WinogradTests.shapes[2]]
        for algorithm in [ConvAlgorithm.winograd2, .winograd4] {
            for (i, s) in cases.enumerated() {
                let (conv, x) = make(s, seed: UInt64(600 + i))
                let dy = TestData.uniform(try! conv.outputShape([x.shape]), seed: 8)
                var forward = [[UInt32]](), backward = [[UInt32]]()
                for threads in [1, 2, 7] {
                    Parallel.withThreads(threads) {
                        forward.append(self.forward(algorithm, conv, x, relu: true).toArray().map(\.bitPattern))
                        backward.append(inputGradient(algorithm, conv, x, dy).toArray().map(\.bitPattern))
                    }
                }
                for k in 1..<3 {
                    XCTAssertEqual(forward[0], forward[k], "\(algorithm) \(s)")
                    XCTAssertEqual(backward[0], backward[k], "\(algorithm) \(s)")
                }
            }
        }
    }

    /// `auto`: F(4×4, 3×3) from 9×9 planes where its tiles cover at most a third more than the plane (14², 18²),
    /// F(2×2, 3×3) on 7×7 and 8×8 planes and on those F(4×4) would pad more (9², 13²), im2col below, on thin
    /// layers and on anything but 3×3 stride 1.
    func testAutoRule() {
        for (side, f4) in [(9, false), (11, true), (13, false), (18, true)] {
            let (conv, v) = make(Shape(n: 1, c: 16, h: side, w: side, m: 16), seed: UInt64(710 + side))
            let chosen = forward(.auto, conv, v).toArray()
            XCTAssertEqual(chosen, forward(f4 ? .winograd4 : .winograd2, conv, v).toArray(), "\(side)²")
            XCTAssertNotEqual(chosen, forward(f4 ? .winograd2 : .winograd4, conv, v).toArray(), "\(side)²")
        }
        let (wide, x) = make(Shape(n: 2, c: 32, h: 14, w: 14, m: 24), seed: 700)
        XCTAssertEqual(forward(.auto, wide, x).toArray(), forward(.winograd4, wide, x).toArray())
        XCTAssertNotEqual(forward(.auto, wide, x).toArray(), forward(.direct, wide, x).toArray())
        let (small, s) = make(Shape(n: 2, c: 32, h: 7, w: 7, m: 24), seed: 702)
        XCTAssertEqual(forward(.auto, small, s).toArray(), forward(.winograd2, small, s).toArray())
        XCTAssertNotEqual(forward(.auto, small, s).toArray(), forward(.winograd4, small, s).toArray())
        let (tiny, u) = make(Shape(n: 2, c: 32, h: 5, w: 5, m: 24), seed: 703)
        XCTAssertEqual(forward(.auto, tiny, u).toArray(), forward(.direct, tiny, u).toArray())
        let (thin, y) = make(Shape(n: 2, c: 3, h: 14, w: 14, m: 24), seed: 701)
        XCTAssertEqual(forward(.auto, thin, y).toArray(), forward(.direct, thin, y).toArray())
        let strided = Conv2D(weight: wide.weight, bias: nil, stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1)
        XCTAssertEqual(forward(.winograd4, strided, x).toArray(), forward(.direct, strided, x).toArray())
    }

    /// An image gets the same bits alone and inside a batch (feature visualization renders icons alone or batched).
    func testBatchInvariant() throws {
        for (h, m) in [(14, 24), (7, 40), (30, 33)] {
            let (conv, x) = make(Shape(n: 3, c: 20, h: h, w: h + 1, m: m), seed: UInt64(800 + h))
            let plane = 20 * h * (h + 1)
            let single = Tensor(shape: [1, 20, h, h + 1], values: Array(x.toArray()[plane..<(2 * plane)]))
            let out = try conv.outputShape([x.shape]), outPlane = m * out[2] * out[3]
            let dy = TestData.uniform(out, seed: 9)
            let dySingle = Tensor(shape: [1, m, out[2], out[3]], values: Array(dy.toArray()[outPlane..<(2 * outPlane)]))
            let batched = forward(.auto, conv, x, relu: true).toArray()[outPlane..<(2 * outPlane)]
            XCTAssertEqual(forward(.auto, conv, single, relu: true).toArray().map(\.bitPattern), batched.map(\.bitPattern))
            let dx = inputGradient(.auto, conv, x, dy).toArray()[plane..<(2 * plane)]
            XCTAssertEqual(inputGradient(.auto, conv, single, dySingle).toArray().map(\.bitPattern), dx.map(\.bitPattern))
        }
    }

    func testEnvironmentSwitch() {
        setenv("ATLAS_CONV", "direct", 1)
        XCTAssertEqual(ConvAlgorithm.preferred(), .direct)
        setenv("ATLAS_CONV", "bogus", 1)
        XCTAssertEqual(ConvAlgorithm.preferred(), .auto)
        unsetenv("ATLAS_CONV")
        XCTAssertEqual(ConvAlgorithm.preferred(), .auto)
    }
}
