import XCTest
import Foundation
import AtlasCore

final class FastMathTests: XCTestCase {
    /// Against float64 e^x over the whole normal range: at most 2 ulp (ulp of the true value).
    func testExpIsWithinTwoUlpOfFloat64() {
        var worst: Double = 0
        var x: Float = -87.3
        while x < 88.3 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 1.37e-3 })
            let e = FastMath.exp(v)
            for i in 0..<8 {
                let truth = Foundation.exp(Double(v[i]))
                let ulp = Double(Float(truth).ulp)
                worst = max(worst, abs(Double(e[i]) - truth) / ulp)
            }
            x += 0.0173
        }
        XCTAssertLessThanOrEqual(worst, 2, "worst error \(worst) ulp")
        XCTAssertGreaterThan(worst, 0, "a polynomial that matched libm everywhere would be suspicious")
    }

    func testEdgesAndScalarEqualsVectorLanes() {
        let edges: [Float] = [0, -0.0, 1, -1, 88.3762, -87.3365, 88.5, -88, -200, 200, .infinity, -.infinity]
        for x in edges {
            XCTAssertEqual(FastMath.exp(x), FastMath.exp(SIMD8<Float>(repeating: x))[3], "\(x)")
        }
        XCTAssertEqual(FastMath.exp(0), 1)
        XCTAssertEqual(FastMath.exp(-Float.infinity), 0)
        XCTAssertEqual(FastMath.exp(-200), 0)
        XCTAssertEqual(FastMath.exp(Float.infinity), .infinity)
        XCTAssertEqual(FastMath.exp(200), .infinity)
        XCTAssertTrue(FastMath.exp(Float.nan).isNaN)
        for x: Float in [88.37, -87.33] {
            let truth = Foundation.exp(Double(x))
            XCTAssertEqual(Double(FastMath.exp(x)), truth, accuracy: truth * 3e-7, "\(x)")
        }
    }
}
