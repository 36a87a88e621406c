import AtlasCore
import AtlasTestSupport
import XCTest

/// Wraps a function and its backward as a `Layer` so `GradientCheck.check` can compare it with finite differences.
struct FunctionLayer: Layer {
    let name = "function"
    let forwardFn: (Tensor) -> Tensor
    /// (input, output, gradOutput) → gradInput
    let backwardFn: (Tensor, Tensor, Tensor) -> Tensor

    func outputShape(_ inputs: [[Int]]) throws -> [Int] { forwardFn(Tensor(zeros: inputs[0])).shape }
    func forward(_ inputs: [Tensor]) -> Tensor { forwardFn(inputs[0]) }
    func backward(_ inputs: [Tensor], output: Tensor, gradOutput: Tensor, needsGrad: [Bool]) -> [Tensor?] {
        [backwardFn(inputs[0], output, gradOutput)]
    }
}

/// Σ a·b in double precision.
func dot(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.count == b.count)
    var s = 0.0
    for i in 0..<a.count { s += Double(a.data[i]) * Double(b.data[i]) }
    return s
}

func bytes(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

func assertClose(_ a: [Float], _ b: [Float], tol: Float, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count " + message, file: file, line: line)
    var worst: Float = 0, at = -1
    for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= worst) { worst = abs(a[i] - b[i]); at = i }
    XCTAssertLessThanOrEqual(worst, tol, "max |Δ| at \(at) " + message, file: file, line: line)
}
