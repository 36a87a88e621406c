import AtlasCore
import AtlasMap
import XCTest

final class LayoutTests: XCTestCase {
    func testPercentileInterpolatesLikeNumPy() {
        let values = (1...100).map(Double.init)
        XCTAssertEqual(LayoutNormalization.percentile(values, 1), 1.99, accuracy: 1e-12)
        XCTAssertEqual(LayoutNormalization.percentile(values, 99), 99.01, accuracy: 1e-12)
        XCTAssertEqual(LayoutNormalization.percentile(values, 50), 50.5, accuracy: 1e-12)
        XCTAssertEqual(LayoutNormalization.percentile([3], 99), 3)
    }

    func testNormalizeClipsOutliersAndAddsMargin() throws {
        // x = 0…99 plus an outlier at 1000; y constant (no spread).
        let n = 101
        let layout = Tensor(zeros: [n, 2])
        for i in 0..<100 { layout[i, 0] = Float(i); layout[i, 1] = 7 }
        layout[100, 0] = 1000; layout[100, 1] = 7
        let out = try LayoutNormalization.normalize(layout)
        // 1st/99th percentiles 1 and 99; lo = 1 − 9.8 = −8.8; hi = 99 + 0.1·(99 + 8.8) = 109.78.
        // Clipped values span [0, 109.78], so x ↦ x / 109.78 and the outlier lands on 1.
        for i in 0..<100 { XCTAssertEqual(out[i, 0], Float(Double(i) / 109.78), accuracy: 1e-6) }
        XCTAssertEqual(out[100, 0], 1)
        for i in 0..<n { XCTAssertEqual(out[i, 1], 0.5) }
        XCTAssertThrowsError(try LayoutNormalization.normalize(Tensor(zeros: [4, 3])))
    }

    func testGridBinningCountsAndMeans() throws {
        let points: [(Float, Float)] = [(0.1, 0.1), (0.2, 0.3), (0.9, 0.1), (0.5, 0.5), (1.0, 1.0), (0.4, 0.6), (0.75, 0.99)]
        let layout = Tensor(zeros: [points.count, 2])
        let acts = Tensor(zeros: [points.count, 3])
        for (i, p) in points.enumerated() {
            layout[i, 0] = p.0; layout[i, 1] = p.1
            for j in 0..<3 { acts[i, j] = Float(10 * i + j) }
        }
        let grid = try AtlasGrid(layout: layout, activations: acts, size: 2)
        // Cells by row then column: (0,0): 0,1; (1,0): 2; (0,1): 5; (1,1): 3,4,6.
        XCTAssertEqual(grid.cells.map { [$0.x, $0.y] }, [[0, 0], [1, 0], [0, 1], [1, 1]])
        XCTAssertEqual(grid.cells.map(\.members), [[0, 1], [2], [5], [3, 4, 6]])
        XCTAssertEqual(grid.means.shape, [4, 3])
        XCTAssertEqual(grid.means.toArray(), [5, 6, 7, 20, 21, 22, 50, 51, 52, 130.0 / 3, 133.0 / 3, 136.0 / 3])
        // A minimum count drops the singletons.
        let dense = try AtlasGrid(layout: layout, activations: acts, size: 2, minCount: 2)
        XCTAssertEqual(dense.cells.map(\.count), [2, 3])
        XCTAssertEqual(dense.means.toArray(), [5, 6, 7, 130.0 / 3, 133.0 / 3, 136.0 / 3])
        let grids = try AtlasGrid.grids(layout: layout, activations: acts, sizes: [1, 4])
        XCTAssertEqual(grids[0].cells.map(\.count), [7])
        XCTAssertEqual(grids[1].cells.reduce(0) { $0 + $1.count }, 7)
        layout[0, 0] = 1.5
        XCTAssertThrowsError(try AtlasGrid(layout: layout, activations: acts, size: 2))
    }

    func testWhiteningInvertsTheRegularizedSecondMoment() throws {
        let n = 300, d = 24
        var rng = SplitMix64(seed: 8)
        let mix = (0..<(d * d)).map { _ in rng.nextNormal() }
        let acts = Tensor(zeros: [n, d])
        for i in 0..<n {
            let z = (0..<d).map { _ in rng.nextNormal() }
            for j in 0..<d {
                var v: Float = 0.5
                for q in 0..<d { v += mix[j * d + q] * z[q] * (q < 4 ? 3 : 0.3) }
                acts[i, j] = v
            }
        }
        let w = try Whitening(activations: acts, relativeRegularization: 1e-3)
        // Second moment against a naive double loop.
        for i in stride(from: 0, to: d, by: 5) {
            for j in stride(from: 0, to: d, by: 3) {
                var s = 0.0
                for r in 0..<n { s += Double(acts[r, i]) * Double(acts[r, j]) }
                XCTAssertEqual(w.secondMoment[i * d + j], s / Double(n), accuracy: 1e-6 * abs(s / Double(n)) + 1e-9)
            }
        }
        var trace = 0.0
        for i in 0..<d { trace += w.secondMoment[i * d + i] }
        XCTAssertEqual(w.regularization, 1e-3 * trace / Double(d), accuracy: 1e-12 * trace)
        // S · (AᵀA/N + λI) = I.
        var worst = 0.0
        for i in 0..<d {
            for j in 0..<d {
                var s = 0.0
                for t in 0..<d { s += w.matrix[i * d + t] * (w.secondMoment[t * d + j] + (t == j ? w.regularization : 0)) }
                worst = max(worst, abs(s - (i == j ? 1 : 0)))
            }
        }
        XCTAssertLessThan(worst, 1e-8)
        // Whitened directions: S applied to (C + λI)u gives back u.
        let u = (0..<d).map { Float($0 % 3) - 1 }
        let cu = Tensor(zeros: [1, d])
        for i in 0..<d {
            var s = 0.0
            for t in 0..<d { s += (w.secondMoment[i * d + t] + (i == t ? w.regularization : 0)) * Double(u[t]) }
            cu.data[i] = Float(s)
        }
        let back = try w.apply(cu)
        for i in 0..<d { XCTAssertEqual(back.data[i], u[i], accuracy: 1e-3) }
        // Scale-free regularisation: S(2A) = S(A)/4.
        let doubled = Tensor(shape: [n, d], values: acts.toArray().map { 2 * $0 })
        let w2 = try Whitening(activations: doubled, relativeRegularization: 1e-3)
        for t in stride(from: 0, to: d * d, by: 7) {
            XCTAssertEqual(w2.matrix[t] * 4, w.matrix[t], accuracy: 1e-9 * max(1, abs(w.matrix[t])))
        }
        XCTAssertThrowsError(try Whitening(activations: Tensor(zeros: [5, 3])))
        XCTAssertThrowsError(try w.apply(Tensor(zeros: [1, 3])))
    }
}
