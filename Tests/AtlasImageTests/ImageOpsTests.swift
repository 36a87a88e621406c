/// Image ops against naive references: area-average and bilinear resize (double-precision integrals and
/// interpolation), crop, pad, normalization, preprocess, tensor conversion and thread-count determinism.
import AtlasCore
import AtlasImage
import XCTest

final class ImageOpsTests: XCTestCase {
    /// Weights of source pixel j for output i along one axis, as the definitions say (in Double).
    private func naiveWeights(source: Int, target: Int) -> [[Double]] {
        var w = [[Double]](repeating: [Double](repeating: 0, count: source), count: target)
        let scale = Double(source) / Double(target)
        for i in 0..<target {
            if target < source {  // area: overlap of [i·s, (i+1)·s) with [j, j+1), over s
                for j in 0..<source {
                    let overlap = min(Double(j + 1), Double(i + 1) * scale) - max(Double(j), Double(i) * scale)
                    if overlap > 0 { w[i][j] = overlap / scale }
                }
            } else {  // bilinear with half-pixel centres, clamped at the borders
                let x = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(source - 1))
                let j0 = Int(x), f = x - Double(j0)
                w[i][j0] += 1 - f
                if f > 0 { w[i][min(j0 + 1, source - 1)] += f }
            }
        }
        return w
    }

    private func naiveResize(_ image: Image, width: Int, height: Int) -> [Double] {
        let wx = naiveWeights(source: image.width, target: width), wy = naiveWeights(source: image.height, target: height)
        var out = [Double](repeating: 0, count: image.channels * width * height)
        for c in 0..<image.channels {
            for oy in 0..<height {
                for ox in 0..<width {
                    var acc = 0.0
                    for y in 0..<image.height where wy[oy][y] != 0 {
                        for x in 0..<image.width where wx[ox][x] != 0 { acc += wy[oy][y] * wx[ox][x] * Double(image[c, y, x]) }
                    }
                    out[(c * height + oy) * width + ox] = acc
                }
            }
        }
        return out
    }

    func testResizeMatchesNaiveReference() throws {
        let image = Synthetic.bytesImage(width: 17, height: 11, channels: 3, seed: 1)
        for (w, h) in [(5, 3), (8, 11), (17, 4), (40, 25), (9, 30), (34, 22), (1, 1)] {
            let fast = try image.resized(width: w, height: h)
            XCTAssertEqual(fast.width, w)
            XCTAssertEqual(fast.height, h)
            let ref = naiveResize(image, width: w, height: h)
            var worst = 0.0
            for i in 0..<ref.count { worst = max(worst, abs(Double(fast.pixels[i]) - ref[i])) }
            XCTAssertLessThan(worst, 2e-6, "\(w)x\(h)")
        }
        // Integer downscale is the block mean.
        let block = try Image(width: 4, height: 2, channels: 1, pixels: [0, 1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(try block.resized(width: 2, height: 1).pixels, [2.5, 4.5])
    }

    func testResizeKeepsConstantsAndIsThreadIndependent() throws {
        let flat = Image(width: 30, height: 20, channels: 2, repeating: 0.25)
        for (w, h) in [(7, 9), (61, 41), (30, 5)] {
            XCTAssertTrue(try flat.resized(width: w, height: h).pixels.allSatisfy { abs($0 - 0.25) < 1e-6 })
        }
        let image = Synthetic.bytesImage(width: 301, height: 203, channels: 3, seed: 2)
        let one = try Parallel.withThreads(1) { try image.resized(width: 123, height: 457) }
        let many = try Parallel.withThreads(4) { try image.resized(width: 123, height: 457) }
        XCTAssertEqual(one, many)
        let shorter = try image.resized(shorterSide: 100)
        XCTAssertEqual([shorter.width, shorter.height], [148, 100])
        assertImageError(.invalidArgument) { try image.resized(width: 0, height: 3) }
        assertImageError(.tooLarge) { try image.resized(width: 1 << 20, height: 1 << 20) }
    }

    func testCropAndPad() throws {
        let image = try Image(width: 4, height: 3, channels: 1, pixels: (0..<12).map(Float.init))
        XCTAssertEqual(try image.cropped(x: 1, y: 1, width: 2, height: 2).pixels, [5, 6, 9, 10])
        XCTAssertEqual(try image.centerCropped(width: 2, height: 1).pixels, [5, 6])
        assertImageError(.invalidArgument) { try image.cropped(x: 3, y: 0, width: 2, height: 1) }
        let padded = try image.padded(top: 1, left: 2, bottom: 0, right: 1, value: [-1])
        XCTAssertEqual([padded.width, padded.height], [7, 4])
        XCTAssertEqual(padded[0, 0, 0], -1)
        XCTAssertEqual(padded[0, 1, 2], 0)
        XCTAssertEqual(padded[0, 3, 5], 11)
        XCTAssertEqual(padded[0, 3, 6], -1)
        let rgb = Image(width: 2, height: 2, channels: 3, repeating: 0.5)
        let toSize = try rgb.padded(toWidth: 5, height: 2, value: [1, 2, 3])
        XCTAssertEqual(toSize.width, 5)
        XCTAssertEqual([toSize[0, 0, 0], toSize[1, 0, 4], toSize[2, 1, 3], toSize[1, 1, 1]], [1, 2, 3, 0.5])
        assertImageError(.invalidArgument) { try rgb.padded(top: 1, left: 0, bottom: 0, right: 0, value: [1, 2]) }
    }

    func testPreprocessMaps() throws {
        let t = Tensor(shape: [1, 3, 1, 2], values: [0, 1, 0.5, 0.25, 1, 0])
        let original = t.copy()
        try Preprocess.imagenet.apply(to: t)
        XCTAssertEqual(t[0, 0, 0, 0], -0.485 / 0.229, accuracy: 1e-5)
        XCTAssertEqual(t[0, 2, 0, 0], (1 - 0.406) / 0.225, accuracy: 1e-5)
        try Preprocess.imagenet.invert(t)
        XCTAssertLessThan(TestDataMax.diff(t, original), 1e-6)
        try Preprocess.inceptionV1.apply(to: original)
        XCTAssertEqual(original.toArray(), [-117, 138, 10.5, -53.25, 138, -117])
        assertImageError(.invalidArgument) { try Preprocess.meanStd([0, 0], [1, 1]).apply(to: t) }
        XCTAssertThrowsError(try Preprocess.meanStd(checked: [0], [0]))
        XCTAssertThrowsError(try Preprocess.meanStd(checked: [0, 0], [1]))
        XCTAssertEqual(Preprocess.byteRange.affine(channels: 3)?.scale, [255, 255, 255])
        XCTAssertNil(Preprocess.imagenet.affine(channels: 1))
    }

    func testPreprocess() throws {
        let image = Synthetic.bytesImage(width: 40, height: 20, channels: 1, seed: 5)
        let pre = Preprocessor(geometry: .shorterSide(resize: 16, width: 12, height: 12), preprocess: .inceptionV1)
        let t = try pre(image)
        XCTAssertEqual(t.shape, [1, 3, 12, 12])
        let manual = try image.converted(to: .rgb).resized(width: 32, height: 16).centerCropped(width: 12, height: 12)
        for c in 0..<3 {
            for y in 0..<12 {
                for x in 0..<12 { XCTAssertEqual(t[0, c, y, x], manual[c, y, x] * 255 - 117, accuracy: 1e-4) }
            }
        }
        // A non-square crop larger than the resized shorter side still fits.
        let wide = try Preprocessor(geometry: .shorterSide(resize: 8, width: 30, height: 10))(image)
        XCTAssertEqual(wide.shape, [1, 3, 10, 30])
        let direct = try Preprocessor(geometry: .direct(width: 10, height: 7))(image)
        XCTAssertEqual(direct.shape, [1, 3, 7, 10])
        XCTAssertEqual(Preprocessor.centerCrop(224, resize: 256).itemShape, [3, 224, 224])
    }

    func testTensorConversionAndLayouts() throws {
        let a = Synthetic.bytesImage(width: 5, height: 3, channels: 3, seed: 7)
        let b = Synthetic.bytesImage(width: 5, height: 3, channels: 3, seed: 8)
        let single = a.tensor()
        XCTAssertEqual(single.shape, [1, 3, 3, 5])
        XCTAssertEqual(single.toArray(), a.pixels)
        let batch = try Image.batch([a, b])
        XCTAssertEqual(batch.shape, [2, 3, 3, 5])
        XCTAssertEqual(try Image(tensor: batch, index: 1), b)
        assertImageError(.invalidArgument) { try Image.batch([a, Image(width: 5, height: 4, channels: 3)]) }
        assertImageError(.invalidArgument) { try Image(tensor: batch, index: 2) }
        let wild = Tensor(shape: [1, 1, 1, 4], values: [-3, 0.5, 7, .nan])
        XCTAssertEqual(try Image(tensor: wild).pixels, [0, 0.5, 1, 0])
        // Layout conversions.
        let rgb = try Image(width: 1, height: 1, channels: 3, pixels: [1, 0.5, 0])
        XCTAssertEqual(rgb.converted(to: .gray).pixels[0], 0.299 + 0.587 * 0.5, accuracy: 1e-6)
        XCTAssertEqual(rgb.converted(to: .rgba).pixels, [1, 0.5, 0, 1])
        let ga = try Image(width: 1, height: 1, channels: 2, pixels: [0.2, 0.5])
        XCTAssertEqual(ga.converted(to: .rgb).pixels, [0.2, 0.2, 0.2])
        XCTAssertEqual(ga.converted(to: .gray, alpha: .composite(red: 0, green: 0, blue: 0)).pixels, [0.1])
        XCTAssertEqual(ga.converted(to: .rgba).pixels, [0.2, 0.2, 0.2, 0.5])
    }
}

enum TestDataMax {
    static func diff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? 0
    }
}
