import XCTest
import AtlasCore
import AtlasTestSupport

final class PadResizeTests: XCTestCase {
    /// ONNX Pad examples (constant_pad, reflect_pad, edge_pad) on the spec's 3×2 data.
    func testONNXPadExamples() throws {
        let x = Tensor(shape: [3, 2], values: [1.0, 1.2, 2.3, 3.4, 4.5, 5.7])
        let pads = [0, 2, 0, 0]
        XCTAssertEqual(try LT.run(Pad(pads: pads, mode: .constant(0)), [x]).toArray(),
                       [0, 0, 1.0, 1.2, 0, 0, 2.3, 3.4, 0, 0, 4.5, 5.7])
        XCTAssertEqual(try LT.run(Pad(pads: pads, mode: .reflect), [x]).toArray(),
                       [1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7])
        XCTAssertEqual(try LT.run(Pad(pads: pads, mode: .edge), [x]).toArray(),
                       [1.0, 1.0, 1.0, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7])
        // numpy: np.pad([1, 2, 3], (4, 5), 'reflect') reflects repeatedly.
        XCTAssertEqual(try LT.run(Pad(pads: [4, 5], mode: .reflect), [Tensor(shape: [3], values: [1, 2, 3])]).toArray(),
                       [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2])
    }

    /// Source index by walking reflections step by step (numpy's definition), or clamping for edge.
    func naiveSource(_ i: Int, _ n: Int, _ mode: PadMode) -> Int? {
        if i >= 0 && i < n { return i }
        switch mode {
        case .constant: return nil
        case .edge: return min(max(i, 0), n - 1)
        case .reflect:
            if n == 1 { return 0 }
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
            return j
        }
    }

    func testPadMatchesNaiveIndexing() throws {
        let x = TestData.uniform([2, 3, 4, 5], seed: 1)
        let padSets = [[0, 0, 1, 2, 0, 0, 3, 1], [0, 1, 2, 7, 1, 0, 3, 6], [0, 0, -1, 2, 0, 0, 2, -2], [1, 0, 0, 0, 0, 2, 0, 0]]
        for pads in padSets {
            for mode in [PadMode.constant(0.5), .reflect, .edge] {
                let layer = Pad(pads: pads, mode: mode)
                let y = try LT.run(layer, [x])
                let expected = LT.indices(y.shape).map { idx -> Float in
                    var src = [Int]()
                    for d in 0..<4 {
                        guard let s = naiveSource(idx[d] - pads[d], x.shape[d], mode) else { return 0.5 }
                        src.append(s)
                    }
                    return x.data[LT.flat(src, x.shape)]
                }
                XCTAssertEqual(y.toArray(), expected, "\(pads) \(mode)")
                LT.assertGradient(layer, [x], "\(pads) \(mode)")
            }
        }
        LT.assertThrows(Pad(pads: [1, 1], mode: .edge), [[2, 3]], "need 4")
        LT.assertThrows(Pad(pads: [0, -2, 0, -2], mode: .edge), [[2, 3]], "below zero")
        LT.assertThrows(Pad(pads: [1, 0], mode: .reflect), [[0]], "empty dimension")
    }

    /// ONNX Resize examples: upsample by 2 (linear, half_pixel and align_corners) and nearest to 7×8.
    func testONNXResizeExamples() throws {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        let half = Resize(outputSize: [1, 1, 4, 4], mode: .linear, coordinates: .halfPixel)
        LT.assertClose(try LT.run(half, [x]), [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4])
        let corners = Resize(outputSize: [1, 1, 4, 4], mode: .linear, coordinates: .alignCorners)
        LT.assertClose(try LT.run(corners, [x]), [1, 4 / 3, 5 / 3, 2, 5 / 3, 2, 7 / 3, 8 / 3, 7 / 3, 8 / 3, 3, 10 / 3, 3, 10 / 3, 11 / 3, 4])
        let nearest = Resize(outputSize: [1, 1, 7, 8], mode: .nearest, coordinates: .halfPixel)
        let row1: [Float] = [1, 1, 1, 1, 2, 2, 2, 2], row3: [Float] = [3, 3, 3, 3, 4, 4, 4, 4]
        XCTAssertEqual(try LT.run(nearest, [x]).toArray(), row1 + row1 + row1 + row1 + row3 + row3 + row3)
    }

    func naiveResize(_ x: Tensor, _ out: [Int], _ mode: ResizeMode, _ coords: ResizeCoordinates) -> [Float] {
        func src(_ o: Int, _ n: Int, _ m: Int) -> Double {
            let scale = Double(m) / Double(n), xo = Double(o)
            switch coords {
            case .halfPixel: return (xo + 0.5) / scale - 0.5
            case .pytorchHalfPixel: return m > 1 ? (xo + 0.5) / scale - 0.5 : 0
            case .alignCorners: return m == 1 ? 0 : xo * Double(n - 1) / Double(m - 1)
            case .asymmetric: return xo / scale
            }
        }
        let (h, w) = (x.shape[2], x.shape[3])
        return LT.indices(out).map { idx in
            let sy = src(idx[2], h, out[2]), sx = src(idx[3], w, out[3])
            func at(_ i: Int, _ j: Int) -> Double { Double(x[idx[0], idx[1], min(max(i, 0), h - 1), min(max(j, 0), w - 1)]) }
            if mode == .nearest {
                func pick(_ v: Double) -> Int {
                    if coords == .asymmetric { return Int(v.rounded(.down)) }
                    return v - v.rounded(.down) == 0.5 ? Int(v.rounded(.down)) : Int(v.rounded())
                }
                return Float(at(pick(sy), pick(sx)))
            }
            let cy = min(max(sy, 0), Double(h - 1)), cx = min(max(sx, 0), Double(w - 1))
            let y0 = Int(cy), x0 = Int(cx), fy = cy - Double(y0), fx = cx - Double(x0)
            let top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx, bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
            return Float(top * (1 - fy) + bottom * fy)
        }
    }

    func testResizeMatchesNaiveInterpolation() throws {
        let x = TestData.uniform([2, 3, 5, 7], seed: 3)
        for out in [[2, 3, 11, 9], [2, 3, 3, 4], [2, 3, 1, 13], [2, 3, 5, 7]] {
            for mode in [ResizeMode.nearest, .linear] {
                for coords in [ResizeCoordinates.halfPixel, .pytorchHalfPixel, .alignCorners, .asymmetric] {
                    let layer = Resize(outputSize: out, mode: mode, coordinates: coords)
                    let y = try LT.run(layer, [x])
                    LT.assertClose(y, naiveResize(x, out, mode, coords), tol: 2e-6, "\(out) \(mode) \(coords)")
                    LT.assertGradient(layer, [x], "\(out) \(mode) \(coords)")
                }
            }
        }
        LT.assertThrows(Resize(outputSize: [2, 4, 5, 5], mode: .linear, coordinates: .halfPixel), [[2, 3, 5, 7]], "spatial")
        LT.assertThrows(Resize(outputSize: [2, 3, 5], mode: .linear, coordinates: .halfPixel), [[2, 3, 5, 7]], "[N, C, H, W]")
        LT.assertThrows(Resize(outputSize: [2, 3, 5, 5], mode: .linear, coordinates: .halfPixel), [[2, 3, 5]], "4-D")
    }
}
