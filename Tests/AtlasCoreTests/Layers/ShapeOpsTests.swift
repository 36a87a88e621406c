import XCTest
import AtlasCore
import AtlasTestSupport

final class ShapeOpsTests: XCTestCase {
    func testFlatten() throws {
        let x = TestData.uniform([2, 3, 4, 5], seed: 1)
        XCTAssertEqual(try Flatten(axis: 0).outputShape([x.shape]), [1, 120])
        XCTAssertEqual(try Flatten(axis: 2).outputShape([x.shape]), [6, 20])
        XCTAssertEqual(try Flatten(axis: -1).outputShape([x.shape]), [24, 5])
        XCTAssertEqual(try Flatten(axis: 4).outputShape([x.shape]), [120, 1])
        let y = try LT.run(Flatten(axis: 1), [x])
        XCTAssertEqual(y.toArray(), x.toArray())
        XCTAssertTrue(y.storage === x.storage, "Flatten is a view, no copy")
        LT.assertThrows(Flatten(axis: 5), [[2, 3, 4, 5]], "axis 5")
        LT.assertGradient(Flatten(axis: 2), [x])
    }

    /// ONNX backend cases reshape_reordered_all_dims, reshape_negative_dim, reshape_zero_dim, allowzero.
    func testReshapeSemantics() throws {
        let s = [2, 3, 4]
        XCTAssertEqual(try Reshape(shape: [4, 2, 3]).outputShape([s]), [4, 2, 3])
        XCTAssertEqual(try Reshape(shape: [2, -1, 2]).outputShape([s]), [2, 6, 2])
        XCTAssertEqual(try Reshape(shape: [-1, 2, 3, 4]).outputShape([s]), [1, 2, 3, 4])
        XCTAssertEqual(try Reshape(shape: [2, 0, 4, 1]).outputShape([s]), [2, 3, 4, 1])
        XCTAssertEqual(try Reshape(shape: [2, 0, 1, -1]).outputShape([s]), [2, 3, 1, 4])
        XCTAssertEqual(try Reshape(shape: [-1]).outputShape([s]), [24])
        XCTAssertEqual(try Reshape(shape: [3, 4, 0], allowZero: true).outputShape([[0, 3, 4]]), [3, 4, 0])
        XCTAssertEqual(try Reshape(shape: []).outputShape([[1, 1]]), [])
        LT.assertThrows(Reshape(shape: [-1, -1]), [s], "more than one")
        LT.assertThrows(Reshape(shape: [5, -1]), [s], "cannot infer")
        LT.assertThrows(Reshape(shape: [5, 5]), [s], "cannot become")
        LT.assertThrows(Reshape(shape: [0, -1], allowZero: true), [s], "allowzero")
        LT.assertThrows(Reshape(shape: [1, 2, 3, 0]), [s], "rank")
        LT.assertThrows(Reshape(shape: [-2, 12]), [s], "invalid dimension")
        let x = TestData.uniform(s, seed: 2)
        let y = try LT.run(Reshape(shape: [0, -1]), [x])
        XCTAssertEqual(y.toArray(), x.toArray())
        XCTAssertEqual(y.shape, [2, 12])
        XCTAssertTrue(y.storage === x.storage, "Reshape is a view, no copy")
        let g = TestData.uniform([2, 12], seed: 3)
        let gx = try XCTUnwrap(Reshape(shape: [0, -1]).backward([x], output: y, gradOutput: g, needsGrad: [true])[0])
        XCTAssertEqual(gx.shape, s)
        XCTAssertTrue(gx.storage === g.storage, "its gradient is a view too")
        LT.assertGradient(Reshape(shape: [4, -1]), [x])
        LT.assertGradient(Identity(), [x])
        XCTAssertEqual(try LT.run(Identity(), [x]).toArray(), x.toArray())
    }

    func testTransposeMatchesIndexMapping() throws {
        var rng = SplitMix64(seed: 3)
        for shape in [[2, 3, 4, 5], [3, 1, 7], [4, 6], [2, 3, 2, 3, 2]] {
            for trial in 0..<4 {
                let perm = trial == 0 ? [] : Array(0..<shape.count).shuffled(using: &rng)
                let p = perm.isEmpty ? Array((0..<shape.count).reversed()) : perm
                let x = TestData.uniform(shape, seed: UInt64(trial))
                let y = try LT.run(Transpose(perm: perm), [x])
                let expected = LT.indices(y.shape).map { idx -> Float in
                    var src = [Int](repeating: 0, count: shape.count)
                    for (i, d) in p.enumerated() { src[d] = idx[i] }
                    return x.data[LT.flat(src, shape)]
                }
                XCTAssertEqual(y.toArray(), expected, "\(shape) \(perm)")
                LT.assertGradient(Transpose(perm: perm), [x])
            }
        }
        LT.assertThrows(Transpose(perm: [0, 0, 1]), [[2, 3, 4]], "permutation")
        LT.assertThrows(Transpose(perm: [1, 0]), [[2, 3, 4]], "permutation")
    }

    /// Python-style slice of one axis: the index list of range(start, stop, step) after slice.indices clamping.
    func pythonIndices(_ n: Int, _ start: Int, _ end: Int, _ step: Int) -> [Int] {
        var s = start < 0 ? start + n : start, e = end < 0 ? end + n : end
        if step > 0 { s = min(max(s, 0), n); e = min(max(e, 0), n) } else { s = min(max(s, -1), n - 1); e = min(max(e, -1), n - 1) }
        return Array(stride(from: s, to: e, by: step))
    }

    func naiveSlice(_ x: Tensor, starts: [Int], ends: [Int], axes: [Int], steps: [Int]) -> (shape: [Int], values: [Float]) {
        var lists = x.shape.map { Array(0..<$0) }
        for k in 0..<starts.count {
            let a = axes[k] < 0 ? axes[k] + x.rank : axes[k]
            lists[a] = pythonIndices(x.shape[a], starts[k], ends[k], steps[k])
        }
        let shape = lists.map(\.count)
        let values = LT.indices(shape).map { idx in x.data[LT.flat(zip(idx, lists).map { $1[$0] }, x.shape)] }
        return (shape, values)
    }

    func testSliceMatchesPythonSemantics() throws {
        let x = TestData.uniform([20, 10, 5], seed: 4)
        let cases: [([Int], [Int], [Int], [Int])] = [
            ([0, 0, 3], [20, 10, 4], [0, 1, 2], [1, 1, 1]),            // slice
            ([20, 10, 4], [0, 0, 1], [0, 1, 2], [-1, -3, -2]),         // slice_neg_steps
            ([1], [1000], [1], [1]),                                   // slice_end_out_of_bounds
            ([0], [-1], [1], [1]),                                     // slice_neg
            ([1000], [1000], [1], [1]),                                // slice_start_out_of_bounds
            ([0, 3], [-1, 10], [-2, -1], [1, 1]),                      // slice_negative_axes
            ([-1, 8], [-1000, Int.max], [2, 1], [-1, 2]),
            ([7], [Int.min], [1], [-2]),
        ]
        for (starts, ends, axes, steps) in cases {
            let layer = Slice(starts: starts, ends: ends, axes: axes, steps: steps)
            let y = try LT.run(layer, [x])
            let (shape, values) = naiveSlice(x, starts: starts, ends: ends, axes: axes, steps: steps)
            XCTAssertEqual(y.shape, shape, "\(starts) \(ends) \(axes) \(steps)")
            XCTAssertEqual(y.toArray(), values)
        }
        XCTAssertEqual(try Slice(starts: [0, 0], ends: [3, 10]).outputShape([x.shape]), [3, 10, 5])
        let small = TestData.uniform([4, 5, 6], seed: 5)
        LT.assertGradient(Slice(starts: [3, 1], ends: [0, 6], axes: [0, 2], steps: [-2, 2]), [small])
        LT.assertThrows(Slice(starts: [0], ends: [1], axes: [3], steps: [1]), [x.shape], "axis 3")
        LT.assertThrows(Slice(starts: [0], ends: [1], axes: [0], steps: [0]), [x.shape], "step 0")
        LT.assertThrows(Slice(starts: [0, 0], ends: [1, 1], axes: [1, -2], steps: []), [x.shape], "twice")
        LT.assertThrows(Slice(starts: [0, 0], ends: [1], axes: [], steps: []), [x.shape], "differ in length")
    }

    func testConcat() throws {
        let a = TestData.uniform([2, 3, 4], seed: 1), b = TestData.uniform([2, 1, 4], seed: 2), c = TestData.uniform([2, 5, 4], seed: 3)
        for axis in [1, -2] {
            let y = try LT.run(Concat(axis: axis), [a, b, c])
            XCTAssertEqual(y.shape, [2, 9, 4])
            for idx in LT.indices(y.shape) {
                let j = idx[1]
                let (t, k) = j < 3 ? (a, j) : (j < 4 ? (b, j - 3) : (c, j - 4))
                XCTAssertEqual(y[idx[0], idx[1], idx[2]], t[idx[0], k, idx[2]])
            }
        }
        XCTAssertEqual(try LT.run(Concat(axis: 0), [a, a]).toArray(), a.toArray() + a.toArray())
        LT.assertGradient(Concat(axis: 1), [a, b, c], wrt: 0)
        LT.assertGradient(Concat(axis: 1), [a, b, c], wrt: 2)
        let grads = Concat(axis: 1).backward([a, b, c], output: Concat(axis: 1).forward([a, b, c]),
                                            gradOutput: TestData.uniform([2, 9, 4], seed: 9), needsGrad: [false, true, false])
        XCTAssertNil(grads[0]); XCTAssertNotNil(grads[1]); XCTAssertNil(grads[2])
        LT.assertThrows(Concat(axis: 1), [[2, 3, 4], [3, 3, 4]], "differs")
        LT.assertThrows(Concat(axis: 1), [[2, 3, 4], [2, 3]], "rank")
        LT.assertThrows(Concat(axis: 3), [[2, 3, 4]], "axis 3")
        LT.assertThrows(Concat(axis: 0), [], "at least one")
    }
}
