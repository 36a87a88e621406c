import XCTest
import AtlasCore
import AtlasTestSupport

final class PoolingTests: XCTestCase {
    struct Config {
        var n = 1, c = 1, h = 5, w = 5
        var k = [3, 3], s = [1, 1], pads = [0, 0, 0, 0], d = [1, 1], ceil = false, includePad = false
    }

    /// Output length written from the definition: ceil/floor of the span over the stride, and in ceil mode
    /// no window may start at or beyond the input's end plus the begin padding.
    func outLength(_ n: Int, k: Int, s: Int, b: Int, e: Int, d: Int, ceil: Bool) -> Int {
        let x = Double(n + b + e - ((k - 1) * d + 1)) / Double(s)
        var out = Int(ceil ? x.rounded(.up) : x.rounded(.down)) + 1
        while ceil && (out - 1) * s >= n + b { out -= 1 }
        return out
    }

    /// Naive pooling with explicit window loops over padded coordinates.
    func naive(_ x: Tensor, _ cf: Config, max isMax: Bool) -> (shape: [Int], values: [Float]) {
        let oh = outLength(cf.h, k: cf.k[0], s: cf.s[0], b: cf.pads[0], e: cf.pads[2], d: cf.d[0], ceil: cf.ceil)
        let ow = outLength(cf.w, k: cf.k[1], s: cf.s[1], b: cf.pads[1], e: cf.pads[3], d: cf.d[1], ceil: cf.ceil)
        var values = [Float]()
        for n in 0..<cf.n { for c in 0..<cf.c { for i in 0..<oh { for j in 0..<ow {
            var best = -Float.infinity, sum = 0.0, valid = 0, padded = 0
            for a in 0..<cf.k[0] { for b in 0..<cf.k[1] {
                let h = i * cf.s[0] - cf.pads[0] + a * cf.d[0], w = j * cf.s[1] - cf.pads[1] + b * cf.d[1]
                if h >= -cf.pads[0] && h < cf.h + cf.pads[2] && w >= -cf.pads[1] && w < cf.w + cf.pads[3] { padded += 1 }
                guard h >= 0 && h < cf.h && w >= 0 && w < cf.w else { continue }
                let v = x[n, c, h, w]
                best = max(best, v); sum += Double(v); valid += 1
            } }
            values.append(isMax ? best : Float(sum / Double(cf.includePad ? padded : valid)))
        } } } }
        return ([cf.n, cf.c, oh, ow], values)
    }

    /// Random configurations, including odd sizes, asymmetric pads, strides above the kernel and ceil mode.
    func randomConfigs(count: Int, seed: UInt64, dilation: Bool, wide: Bool = false) -> [Config] {
        var rng = SplitMix64(seed: seed)
        var out = [Config]()
        while out.count < count {
            var cf = Config()
            cf.n = 1 + rng.nextInt(below: 2); cf.c = 1 + rng.nextInt(below: 3)
            cf.h = 2 + rng.nextInt(below: 10); cf.w = wide ? 16 + rng.nextInt(below: 30) : 2 + rng.nextInt(below: 10)
            cf.k = [1 + rng.nextInt(below: 4), 1 + rng.nextInt(below: 4)]
            cf.s = [1 + rng.nextInt(below: 3), 1 + rng.nextInt(below: 3)]
            cf.d = dilation ? [1 + rng.nextInt(below: 2), 1 + rng.nextInt(below: 2)] : [1, 1]
            let ek = [(cf.k[0] - 1) * cf.d[0] + 1, (cf.k[1] - 1) * cf.d[1] + 1]
            cf.pads = [rng.nextInt(below: ek[0]), rng.nextInt(below: ek[1]), rng.nextInt(below: ek[0]), rng.nextInt(below: ek[1])]
            cf.ceil = rng.nextInt(below: 2) == 1
            cf.includePad = rng.nextInt(below: 2) == 1
            guard cf.h + cf.pads[0] + cf.pads[2] >= ek[0], cf.w + cf.pads[1] + cf.pads[3] >= ek[1] else { continue }
            out.append(cf)
        }
        return out
    }

    /// 3×3, stride 1, padding 1 on planes of every width class (the Inception pool branch's own kernel).
    func same3Configs() -> [Config] {
        [(1, 1), (1, 5), (2, 3), (3, 2), (7, 7), (9, 13), (14, 14), (4, 20)].enumerated().map { i, hw in
            var cf = Config()
            cf.n = 1 + i % 2; cf.c = 1 + i % 3; cf.h = hw.0; cf.w = hw.1
            cf.k = [3, 3]; cf.s = [1, 1]; cf.pads = [1, 1, 1, 1]; cf.ceil = i % 2 == 1
            return cf
        }
    }

    func maxPool(_ cf: Config) -> MaxPool { MaxPool(kernel: cf.k, stride: cf.s, pads: cf.pads, dilation: cf.d, ceilMode: cf.ceil) }
    func avgPool(_ cf: Config) -> AveragePool {
        AveragePool(kernel: cf.k, stride: cf.s, pads: cf.pads, ceilMode: cf.ceil, countIncludePad: cf.includePad)
    }

    func testMaxPoolForwardMatchesNaiveLoops() throws {
        // Wide rows exercise the eight-lane paths (stride 2 needs 16 + kernel columns).
        let configs = randomConfigs(count: 60, seed: 1, dilation: true) + randomConfigs(count: 30, seed: 11, dilation: true, wide: true)
            + same3Configs()
        for (i, cf) in configs.enumerated() {
            let x = TestData.uniform([cf.n, cf.c, cf.h, cf.w], seed: UInt64(i))
            let y = try LT.run(maxPool(cf), [x])
            let (shape, values) = naive(x, cf, max: true)
            XCTAssertEqual(y.shape, shape, "\(cf)")
            if y.shape == shape { XCTAssertEqual(y.toArray(), values, "\(cf)") }
        }
    }

    func testAveragePoolForwardMatchesNaiveLoops() throws {
        let configs = randomConfigs(count: 60, seed: 2, dilation: false) + randomConfigs(count: 30, seed: 12, dilation: false, wide: true)
        for (i, cf) in configs.enumerated() {
            let x = TestData.uniform([cf.n, cf.c, cf.h, cf.w], seed: UInt64(i))
            let y = try LT.run(avgPool(cf), [x])
            let (shape, values) = naive(x, cf, max: false)
            XCTAssertEqual(y.shape, shape, "\(cf)")
            LT.assertClose(y, values, tol: 1e-6, "\(cf)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        for (i, cf) in randomConfigs(count: 12, seed: 3, dilation: true).enumerated() {
            // Distinct values 0.05 apart: no window max changes under a ±0.01 perturbation.
            LT.assertGradient(maxPool(cf), [LT.distinct([cf.n, cf.c, cf.h, cf.w], seed: UInt64(i))], "\(cf)")
        }
        for (i, cf) in (randomConfigs(count: 12, seed: 4, dilation: false) + randomConfigs(count: 4, seed: 14, dilation: false, wide: true)).enumerated() {
            LT.assertGradient(avgPool(cf), [TestData.uniform([cf.n, cf.c, cf.h, cf.w], seed: UInt64(i))], "\(cf)")
        }
        let x = LT.distinct([2, 3, 5, 7], seed: 5)
        LT.assertGradient(GlobalMaxPool(), [x])
        LT.assertGradient(GlobalAveragePool(), [x])
        // Its gradient needs the input's shape only: a traced run hands it shape-only stand-ins.
        let gap = GlobalAveragePool(), y = gap.forward([x]), g = TestData.uniform(y.shape, seed: 6)
        XCTAssertEqual(gap.backwardReads, [])
        XCTAssertEqual(gap.backward([Tensor(placeholder: x.shape)], output: Tensor(placeholder: y.shape), gradOutput: g,
                                    needsGrad: [true])[0]?.toArray(),
                       gap.backward([x], output: y, gradOutput: g, needsGrad: [true])[0]?.toArray())
    }

    func testMaxPoolGradientGoesToFirstMaximum() {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, 3, 3, 2])
        let pool = MaxPool(kernel: [2, 2], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], ceilMode: false)
        let gx = pool.backward([x], output: pool.forward([x]), gradOutput: Tensor(shape: [1, 1, 1, 1], values: [5]), needsGrad: [true])[0]!
        XCTAssertEqual(gx.toArray(), [0, 5, 0, 0])
        let gm = GlobalMaxPool().backward([x], output: GlobalMaxPool().forward([x]),
                                          gradOutput: Tensor(shape: [1, 1, 1, 1], values: [2]), needsGrad: [true])[0]!
        XCTAssertEqual(gm.toArray(), [0, 2, 0, 0])
    }

    /// The gradient of every window goes to its first maximum in row-major order, accumulated in output order —
    /// checked exactly against explicit loops on inputs with many ties (values on a coarse grid), including the
    /// wide rows, by the portable eight-lane kernel and, where the CPU has AVX-512, the sixteen-lane C kernel.
    func testMaxPoolBackwardMatchesNaiveFirstMaximumWithTies() throws {
        let kernels = [GEMMKernel.avx2] + (GEMMKernel.avx512.isAvailable ? [.avx512] : [])
        for kernel in kernels { try GEMM.withKernel(kernel) { try checkMaxPoolBackwardWithTies() } }
    }

    private func checkMaxPoolBackwardWithTies() throws {
        let configs = randomConfigs(count: 30, seed: 21, dilation: true) + randomConfigs(count: 60, seed: 22, dilation: true, wide: true)
            + same3Configs()
        for (i, cf) in configs.enumerated() {
            let u = TestData.uniform([cf.n, cf.c, cf.h, cf.w], seed: UInt64(100 + i))
            let x = Tensor(shape: u.shape, values: u.toArray().map { ($0 * 3).rounded() })   // few distinct values
            let pool = maxPool(cf)
            let y = try LT.run(pool, [x])
            let gy = TestData.uniform(y.shape, seed: UInt64(200 + i))
            let gx = pool.backward([x], output: y, gradOutput: gy, needsGrad: [true])[0]!
            var expect = [Float](repeating: 0, count: x.count)
            let (oh, ow) = (y.shape[2], y.shape[3])
            for n in 0..<cf.n { for c in 0..<cf.c { for a in 0..<oh { for b in 0..<ow {
                var best = -Float.infinity, arg = -1
                for p in 0..<cf.k[0] { for q in 0..<cf.k[1] {
                    let h = a * cf.s[0] - cf.pads[0] + p * cf.d[0], w = b * cf.s[1] - cf.pads[1] + q * cf.d[1]
                    guard h >= 0 && h < cf.h && w >= 0 && w < cf.w else { continue }
                    if x[n, c, h, w] > best { best = x[n, c, h, w]; arg = ((n * cf.c + c) * cf.h + h) * cf.w + w }
                } }
                if arg >= 0 { expect[arg] += gy[n, c, a, b] }
            } } } }
            XCTAssertEqual(gx.toArray(), expect, "\(GEMM.kernel) \(cf)")
        }
    }

    /// The two-pass forwards (a window row read by several output rows; 3×3 stride-1 padding-1 planes as one row)
    /// give the row-major scan's value bit for bit:
    /// the first of equal maxima (+0 before −0 or the reverse) and NaN ignored unless nothing else is there.
    func testMaxPoolForwardKeepsFirstMaximumWithSignedZerosAndNaN() throws {
        let configs = randomConfigs(count: 30, seed: 31, dilation: true) + randomConfigs(count: 60, seed: 32, dilation: true, wide: true)
            + same3Configs()
        let palette: [Float] = [0, -0.0, .nan, -1, 0, -0.0]
        for (i, cf) in configs.enumerated() {
            var rng = SplitMix64(seed: UInt64(300 + i))
            let count = cf.n * cf.c * cf.h * cf.w
            let x = Tensor(shape: [cf.n, cf.c, cf.h, cf.w], values: (0..<count).map { _ in palette[rng.nextInt(below: palette.count)] })
            let y = try LT.run(maxPool(cf), [x])
            var expect = [UInt32]()
            for n in 0..<cf.n { for c in 0..<cf.c { for a in 0..<y.shape[2] { for b in 0..<y.shape[3] {
                var best = -Float.infinity
                for p in 0..<cf.k[0] { for q in 0..<cf.k[1] {
                    let h = a * cf.s[0] - cf.pads[0] + p * cf.d[0], w = b * cf.s[1] - cf.pads[1] + q * cf.d[1]
                    guard h >= 0 && h < cf.h && w >= 0 && w < cf.w else { continue }
                    if x[n, c, h, w] > best { best = x[n, c, h, w] }
                } }
                expect.append(best.bitPattern)
            } } } }
            XCTAssertEqual(y.toArray().map(\.bitPattern), expect, "\(cf)")
        }
    }

    /// The recording forward (runs kept for backward) gives the forward's values bit for bit and notes each window's
    /// first maximum, and the backward that only scatters from the note gives the searching backward's bits: ties,
    /// signed zeros, NaN and −∞ windows, narrow and wide rows, the Inception pool branch's 3×3 stride 1.
    func testRecordedMaximaGiveTheBitsOfSearchedOnes() throws {
        let configs = randomConfigs(count: 30, seed: 41, dilation: true) + randomConfigs(count: 60, seed: 42, dilation: true, wide: true)
            + same3Configs()
        let palette: [Float] = [0, -0.0, .nan, -1, 1, 1, -.infinity, 0.5]
        var noted = 0, eligible = 0
        for (i, cf) in configs.enumerated() {
            var rng = SplitMix64(seed: UInt64(400 + i))
            let count = cf.n * cf.c * cf.h * cf.w
            let x = Tensor(shape: [cf.n, cf.c, cf.h, cf.w], values: (0..<count).map { _ in palette[rng.nextInt(below: palette.count)] })
            let pool = maxPool(cf)
            _ = try pool.outputShape([x.shape])
            let y = pool.forward([x]), recorded = pool.forwardRecording([x])
            XCTAssertEqual(recorded.toArray().map(\.bitPattern), y.toArray().map(\.bitPattern), "\(cf)")
            if recorded.storage.note != nil { noted += 1 }
            if cf.d[1] == 1 && (cf.s[1] == 1 || cf.s[1] == 2) && y.count > 0 { eligible += 1 }
            let gy = TestData.uniform(y.shape, seed: UInt64(500 + i))
            let searched = pool.backward([x], output: y, gradOutput: gy, needsGrad: [true])[0]!
            let scattered = pool.backward([x], output: recorded, gradOutput: gy, needsGrad: [true])[0]!
            XCTAssertEqual(scattered.toArray().map(\.bitPattern), searched.toArray().map(\.bitPattern), "\(cf)")
        }
        // Where the sixteen-lane kernels run, every pool with unit column dilation and column stride 1 or 2 notes.
        XCTAssertEqual(noted, GEMMKernel.avx512.isAvailable ? eligible : 0)
        XCTAssertGreaterThan(eligible, 20)
    }

    /// ONNX backend examples maxpool_2d_ceil, maxpool_2d_pads, maxpool_2d_dilations and averagepool_2d_ceil.
    func testONNXExamples() throws {
        let x4 = LT.arange([1, 1, 4, 4])
        let ceil = MaxPool(kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0], dilation: [1, 1], ceilMode: true)
        XCTAssertEqual(try LT.run(ceil, [x4]).toArray(), [11, 12, 15, 16])
        let avgCeil = AveragePool(kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0], ceilMode: true, countIncludePad: false)
        XCTAssertEqual(try LT.run(avgCeil, [x4]).toArray(), [6, 7.5, 12, 13.5])
        let dil = MaxPool(kernel: [2, 2], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [2, 2], ceilMode: false)
        XCTAssertEqual(try LT.run(dil, [x4]).toArray(), [11, 12, 15, 16])
        let x5 = LT.arange([1, 1, 5, 5])
        let pads = MaxPool(kernel: [5, 5], stride: [1, 1], pads: [2, 2, 2, 2], dilation: [1, 1], ceilMode: false)
        XCTAssertEqual(try LT.run(pads, [x5]).toArray(), [13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25,
                                                          23, 24, 25, 25, 25, 23, 24, 25, 25, 25])
        // averagepool_2d_pads (count_include_pad = 0) corner: mean of the 3×3 top-left input block.
        let ap = AveragePool(kernel: [5, 5], stride: [1, 1], pads: [2, 2, 2, 2], ceilMode: false, countIncludePad: false)
        XCTAssertEqual(try LT.run(ap, [x5])[0, 0, 0, 0], 7)
        let api = AveragePool(kernel: [5, 5], stride: [1, 1], pads: [2, 2, 2, 2], ceilMode: false, countIncludePad: true)
        XCTAssertEqual(try LT.run(api, [x5])[0, 0, 0, 0], 63 / 25, accuracy: 1e-6)
    }

    func testGlobalPools() throws {
        let x = TestData.uniform([2, 3, 5, 7], seed: 8)
        let avg = try LT.run(GlobalAveragePool(), [x]), mx = try LT.run(GlobalMaxPool(), [x])
        XCTAssertEqual(avg.shape, [2, 3, 1, 1])
        for p in 0..<6 {
            let plane = Array(x.toArray()[(p * 35)..<((p + 1) * 35)])
            XCTAssertEqual(Double(avg.data[p]), plane.map(Double.init).reduce(0, +) / 35, accuracy: 1e-6)
            XCTAssertEqual(mx.data[p], plane.max()!)
        }
    }

    func testShapeErrors() {
        let k3 = MaxPool(kernel: [3, 3], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], ceilMode: false)
        LT.assertThrows(k3, [[1, 1, 5]], "4-D")
        LT.assertThrows(k3, [[1, 1, 2, 5]], "larger than the padded input")
        LT.assertThrows(MaxPool(kernel: [3], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], ceilMode: false), [[1, 1, 5, 5]], "kernel")
        LT.assertThrows(MaxPool(kernel: [3, 3], stride: [0, 1], pads: [0, 0, 0, 0], dilation: [1, 1], ceilMode: false), [[1, 1, 5, 5]], "strides")
        LT.assertThrows(MaxPool(kernel: [3, 3], stride: [1, 1], pads: [3, 0, 0, 0], dilation: [1, 1], ceilMode: false), [[1, 1, 5, 5]], "pads")
        LT.assertThrows(AveragePool(kernel: [2, 2], stride: [1, 1], pads: [0, -1, 0, 0], ceilMode: false, countIncludePad: false),
                        [[1, 1, 5, 5]], "non-negative")
        LT.assertThrows(GlobalAveragePool(), [[4, 3]], "rank ≥ 3")
    }
}
