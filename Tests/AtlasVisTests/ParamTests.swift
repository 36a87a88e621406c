import AtlasCore
import AtlasImage
import AtlasTestSupport
import AtlasVis
import Foundation
import XCTest

final class ParamTests: XCTestCase {
    /// numpy `irfft2` by definition: complex inverse DFT over rows (ky), then the real inverse over columns,
    /// which uses only the real part of the DC term (and of the Nyquist term for even widths).
    func naiveIrfft2(_ re: [Double], _ im: [Double], h: Int, w: Int) -> [Double] {
        let k = w / 2 + 1
        var zr = [Double](repeating: 0, count: h * k), zi = zr
        for y in 0..<h {
            for kx in 0..<k {
                for ky in 0..<h {
                    let a = 2 * Double.pi * Double(ky * y) / Double(h)
                    zr[y * k + kx] += (re[ky * k + kx] * cos(a) - im[ky * k + kx] * sin(a)) / Double(h)
                    zi[y * k + kx] += (re[ky * k + kx] * sin(a) + im[ky * k + kx] * cos(a)) / Double(h)
                }
            }
        }
        var out = [Double](repeating: 0, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                var s = zr[y * k]
                for kx in 1..<k {
                    let a = 2 * Double.pi * Double(kx * x) / Double(w)
                    let term = zr[y * k + kx] * cos(a) - zi[y * k + kx] * sin(a)
                    s += (w % 2 == 0 && kx == w / 2) ? term : 2 * term
                }
                out[y * w + x] = s / Double(w)
            }
        }
        return out
    }

    /// The raw inverse DFT of an FFT param: parameters = X / scale, so linearImage = irfft2(X) / 4.
    func irfft2(re: [Double], im: [Double], h: Int, w: Int) throws -> [Float] {
        let p = try FFTImageParam.grayscale(height: h, width: w)
        let k = w / 2 + 1, scale = p.spectrumScale
        let params = Tensor(zeros: [1, p.parameterCount])
        for i in 0..<(h * k) {
            params.data[i] = Float(re[i]) / scale[i]
            params.data[h * k + i] = Float(im[i]) / scale[i]
        }
        return p.linearImage(params).toArray().map { $0 * 4 }
    }

    func testIrfftMatchesNumpy() throws {
        let cases: [(Int, Int, [Float])] = [(4, 6, VisReference.irfft2_4x6), (4, 5, VisReference.irfft2_4x5),
                                            (3, 4, VisReference.irfft2_3x4), (5, 5, VisReference.irfft2_5x5)]
        for (h, w, expected) in cases {
            let k = w / 2 + 1
            let idx = (0..<(h * k)).map(Double.init)
            let got = try irfft2(re: idx.map { sin(0.7 * $0 + 0.3) }, im: idx.map { cos(1.3 * $0) }, h: h, w: w)
            assertClose(got, expected, tol: 2e-6, "\(h)x\(w)")
        }
    }

    func testIrfftMatchesNaiveDFT() throws {
        // Heights of every kind the row FFT meets: powers of two, 3², a prime (13), 7², 2²·3·5, and 128.
        for (h, w) in [(16, 12), (9, 7), (8, 1), (1, 8), (32, 33), (13, 6), (49, 9), (60, 5), (128, 16)] {
            var rng = SplitMix64(seed: UInt64(h * 100 + w))
            let n = h * (w / 2 + 1)
            let re = (0..<n).map { _ in Double(rng.nextNormal()) }, im = (0..<n).map { _ in Double(rng.nextNormal()) }
            let got = try irfft2(re: re, im: im, h: h, w: w)
            assertClose(got, naiveIrfft2(re, im, h: h, w: w).map(Float.init), tol: 5e-6, "\(h)x\(w)")
        }
    }

    /// The parameter gradient is the exact adjoint of the linear image: ⟨image(p), g⟩ = ⟨p, backward(g)⟩, for
    /// heights the row FFT splits in every way (2ⁿ, 3·5, primes, 7², 2·3·37) and odd and even widths.
    func testLinearBackwardIsTheAdjoint() throws {
        for (i, (h, w)) in [(128, 128), (15, 10), (11, 13), (7, 2), (49, 8), (222, 5), (2, 3), (1, 1)].enumerated() {
            let p = try FFTImageParam.grayscale(height: h, width: w)
            let params = TestData.uniform([2, p.parameterCount], in: -1...1, seed: UInt64(10 + i))
            let g = TestData.uniform([2, 1, h, w], in: -1...1, seed: UInt64(20 + i))
            let y = p.linearImage(params), back = p.linearBackward(g, count: 2)
            var lhs = 0.0, rhs = 0.0, scale = 0.0
            for e in 0..<y.count { lhs += Double(y.data[e]) * Double(g.data[e]); scale += abs(Double(y.data[e]) * Double(g.data[e])) }
            for e in 0..<params.count { rhs += Double(params.data[e]) * Double(back.data[e]) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-5 * max(scale, 1e-30), "\(h)×\(w)")
        }
    }

    /// The whole chain (scale, irfft, /4, colour decorrelation, sigmoid) against Lucent's fft_image + to_valid_rgb.
    func testFFTParamMatchesLucent() throws {
        let cases: [(Int, Int, Int, [Float], [Float])] = [
            (3, 6, 8, VisReference.fftLinear_3x6x8, VisReference.fftImage_3x6x8),
            (3, 5, 7, VisReference.fftLinear_3x5x7, VisReference.fftImage_3x5x7),
            (1, 4, 6, VisReference.fftLinear_1x4x6, VisReference.fftImage_1x4x6),
        ]
        for (c, h, w, linear, rgb) in cases {
            let p = try FFTImageParam(height: h, width: w, channels: c)
            XCTAssertEqual(p.decorrelate, c == 3)
            let params = Tensor(shape: [1, p.parameterCount], values: (0..<p.parameterCount).map { Float(0.5 * sin(0.7 * Double($0) + 0.3)) })
            assertClose(p.linearImage(params).toArray(), linear, tol: 1e-5, "linear \(c)x\(h)x\(w)")
            assertClose(p.image(params).toArray(), rgb, tol: 2e-6, "rgb \(c)x\(h)x\(w)")
        }
    }

    func testColorMatrixNormalisation() {
        assertClose(ColorDecorrelation.normalized, VisReference.colorCorrelationNormalized, tol: 1e-7)
        // Largest column norm becomes 1 (column 0: sqrt(0.26² + 0.27² + 0.27²)).
        let m = ColorDecorrelation.normalized
        XCTAssertEqual((m[0] * m[0] + m[3] * m[3] + m[6] * m[6]).squareRoot(), 1, accuracy: 1e-6)
    }

    func testSpectrumScale() throws {
        let p = try FFTImageParam(height: 4, width: 6)
        let s = p.spectrumScale
        // DC: frequency floored at 1/max(h, w) = 1/6 → sqrt(24) · 6.
        XCTAssertEqual(s[0], Float(24.0.squareRoot() * 6), accuracy: 1e-4)
        // (ky 1, kx 3): fy = 0.25, fx = 0.5 → 1/sqrt(0.3125) · sqrt(24).
        XCTAssertEqual(s[1 * 4 + 3], Float(24.0.squareRoot() / 0.3125.squareRoot()), accuracy: 1e-4)
        // ky = 3 is frequency −0.25 (numpy fftfreq).
        XCTAssertEqual(s[3 * 4 + 3], s[1 * 4 + 3])
    }

    /// Image statistics at initialisation match Lucent's fft_image for the same shapes.
    func testInitStatisticsMatchLucent() throws {
        for (size, icons, ref) in [(64, 96, VisReference.initStats_64x64), (128, 24, VisReference.initStats_128x128)] {
            let p = try FFTImageParam(height: size, width: size)
            let params = p.initialParameters(seeds: (0..<icons).map { UInt64($0) + 1000 })
            func stats(_ t: Tensor) -> (Double, Double) {
                let v = t.toArray().map(Double.init)
                let mean = v.reduce(0, +) / Double(v.count)
                return (mean, (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot())
            }
            let (_, linStd) = stats(p.linearImage(params))
            let (rgbMean, rgbStd) = stats(p.image(params))
            XCTAssertEqual(linStd, Double(ref[0]), accuracy: 0.1 * Double(ref[0]), "linear std \(size)")
            XCTAssertEqual(rgbMean, Double(ref[1]), accuracy: 2e-4, "rgb mean \(size)")
            XCTAssertEqual(rgbStd, Double(ref[2]), accuracy: 0.1 * Double(ref[2]), "rgb std \(size)")
        }
    }

    func testInitDependsOnlyOnSeed() throws {
        let p = try FFTImageParam(height: 12, width: 10)
        let batch = p.initialParameters(seeds: [3, 7, 11])
        let alone = p.initialParameters(seeds: [7])
        XCTAssertEqual(bytes(batch.slice(batch: 1..<2)), bytes(alone))
        XCTAssertNotEqual(bytes(batch.slice(batch: 0..<1)), bytes(alone))
        let img = p.image(batch), imgAlone = p.image(alone)
        XCTAssertEqual(bytes(img.slice(batch: 1..<2)), bytes(imgAlone))
        let again = Parallel.withThreads(1) { p.image(batch) }
        XCTAssertEqual(bytes(again), bytes(img))
    }

    func checkParamBackward(_ p: ImageParam, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        // Larger-than-init parameters so the sigmoid is away from its linear regime.
        let params = TestData.uniform([2, p.parameterCount], in: -0.5...0.5, seed: seed)
        let layer = FunctionLayer(forwardFn: { p.image($0) },
                                  backwardFn: { x, y, g in p.backward(x, image: y, gradImage: g) })
        let report = GradientCheck.check(layer, inputs: [params], eps: 1e-2, samples: 120, seed: seed)
        XCTAssertLessThan(report.maxError, 2e-3, "\(p) \(report)", file: file, line: line)
    }

    func testBackwardAgainstFiniteDifferences() throws {
        checkParamBackward(try FFTImageParam(height: 8, width: 6), seed: 1)
        checkParamBackward(try FFTImageParam(height: 5, width: 7), seed: 2)
        checkParamBackward(try FFTImageParam.grayscale(height: 6, width: 9), seed: 3)
        checkParamBackward(try FFTImageParam(height: 6, width: 6, decayPower: 1.5), seed: 4)
        checkParamBackward(try PixelImageParam(height: 5, width: 4), seed: 5)
        checkParamBackward(try PixelImageParam(height: 5, width: 4, channels: 1), seed: 6)
        checkParamBackward(try PixelImageParam(height: 3, width: 4, decorrelate: false), seed: 7)
    }

    func testPixelParam() throws {
        let p = try PixelImageParam(height: 2, width: 2)
        XCTAssertEqual(p.parameterCount, 12)
        let params = Tensor(shape: [1, 12], values: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        let img = p.image(params).toArray()
        // Pixel 0 decorrelated = column 0 of M, then sigmoid.
        let m = ColorDecorrelation.normalized
        for c in 0..<3 { XCTAssertEqual(img[c * 4], 1 / (1 + exp(-m[c * 3])), accuracy: 1e-6) }
        XCTAssertEqual(img[1], 0.5)
    }

    func testBadSizesThrow() {
        XCTAssertThrowsError(try FFTImageParam(height: 0, width: 8))
        XCTAssertThrowsError(try FFTImageParam(height: 8, width: 8, channels: 1, decorrelate: true)) {
            XCTAssertEqual($0 as? ParamError, .decorrelationNeedsRGB(channels: 1))
        }
        XCTAssertThrowsError(try PixelImageParam(height: 8, width: 5000))
    }

    func testPreprocess() {
        let x = TestData.uniform([2, 3, 4, 5], in: 0...1, seed: 9)
        let v = Preprocess.inceptionV1.forward(x)
        XCTAssertEqual(v.data[7], x.data[7] * 255 - 117, accuracy: 1e-4)
        let ms = Preprocess.imagenet.forward(x)
        XCTAssertEqual(ms[1, 2, 3, 4], (x[1, 2, 3, 4] - 0.406) / 0.225, accuracy: 1e-5)
        XCTAssertEqual(bytes(Preprocess.identity.forward(x)), bytes(x))
        for pre in [Preprocess.inceptionV1, .imagenet, .identity, .range(-1, 1)] {
            let layer = FunctionLayer(forwardFn: { pre.forward($0) }, backwardFn: { _, _, g in pre.backward(g) })
            XCTAssertLessThan(GradientCheck.check(layer, inputs: [x], eps: 1e-2, seed: 3).maxError, 1e-3, "\(pre)")
        }
    }
}
