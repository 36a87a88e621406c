import XCTest
import AtlasCore
import AtlasTestSupport

/// Small helpers for the layer tests: multi-index loops, tolerant comparisons, kink-free inputs.
enum LT {
    /// Every multi-index of `shape` in row-major order.
    static func indices(_ shape: [Int]) -> [[Int]] {
        var all = [[Int]]()
        let n = Tensor.elementCount(shape)
        all.reserveCapacity(n)
        for flat in 0..<n {
            var idx = [Int](repeating: 0, count: shape.count), rest = flat
            for d in stride(from: shape.count - 1, through: 0, by: -1) { idx[d] = rest % shape[d]; rest /= shape[d] }
            all.append(idx)
        }
        return all
    }

    /// Row-major flat index.
    static func flat(_ idx: [Int], _ shape: [Int]) -> Int { zip(idx, shape).reduce(0) { $0 * $1.1 + $1.0 } }

    /// Uniform values whose pairwise gaps exceed `gap`, shuffled, and none within `gap` of any `kink`.
    static func distinct(_ shape: [Int], seed: UInt64, gap: Float = 0.05, kinks: [Float] = [0]) -> Tensor {
        let t = Tensor(zeros: shape)
        var rng = SplitMix64(seed: seed, stream: 11)
        var values = [Float]()
        var v: Float = -Float(t.count) * gap * 1.2
        while values.count < t.count {
            v += gap * 1.25
            if kinks.allSatisfy({ abs(v - $0) > gap }) { values.append(v) }
        }
        values.shuffle(using: &rng)
        for i in 0..<t.count { t.data[i] = values[i] }
        return t
    }

    /// Uniform values kept at least `margin` away from every kink.
    static func away(_ shape: [Int], in range: ClosedRange<Float> = -2...2, seed: UInt64, kinks: [Float], margin: Float = 0.05) -> Tensor {
        let t = TestData.uniform(shape, in: range, seed: seed)
        for i in 0..<t.count {
            for k in kinks where abs(t.data[i] - k) < margin { t.data[i] = k + (t.data[i] < k ? -margin : margin) }
        }
        return t
    }

    static func assertClose(_ a: Tensor, _ b: [Float], tol: Float = 1e-5, _ message: String = "",
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "count \(message)", file: file, line: line)
        guard a.count == b.count else { return }
        let err = TestData.maxRelativeError(a, Tensor(shape: a.shape, values: b))
        XCTAssertLessThanOrEqual(err, tol, message, file: file, line: line)
    }

    static func assertGradient(_ layer: Layer, _ inputs: [Tensor], wrt: Int = 0, eps: Float = 1e-2, _ message: String = "",
                               file: StaticString = #filePath, line: UInt = #line) {
        let report = GradientCheck.check(layer, inputs: inputs, wrt: wrt, eps: eps, samples: 300)
        XCTAssertLessThan(report.maxError, 1e-2, "\(layer.name) \(message): \(report)", file: file, line: line)
    }

    static func assertThrows(_ layer: Layer, _ shapes: [[Int]], _ fragment: String = "",
                             file: StaticString = #filePath, line: UInt = #line) {
        do {
            let s = try layer.outputShape(shapes)
            XCTFail("\(layer.name) accepted \(shapes) -> \(s)", file: file, line: line)
        } catch let e as ShapeError {
            if !fragment.isEmpty {
                XCTAssertTrue(e.message.contains(fragment), "'\(e.message)' lacks '\(fragment)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    /// Forward after validating shapes, checking `outputShape` agrees with the produced tensor.
    static func run(_ layer: Layer, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line) throws -> Tensor {
        let shape = try layer.outputShape(inputs.map(\.shape))
        let y = layer.forward(inputs)
        XCTAssertEqual(y.shape, shape, "\(layer.name) output shape", file: file, line: line)
        return y
    }

    /// Arange 1…n as a tensor.
    static func arange(_ shape: [Int], from start: Float = 1) -> Tensor {
        Tensor(shape: shape, values: (0..<Tensor.elementCount(shape)).map { start + Float($0) })
    }
}
