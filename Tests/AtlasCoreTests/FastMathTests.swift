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

    /// Against float64 erf on [−6, 6]: at most 4e-7 absolute (the fit is 6.5e-8 in float64; float32 evaluation adds a
    /// few ulps of values near ±1, whose spacing is 6e-8), odd, ±1 in the tails.
    func testErfIsWithin4e7OfFloat64() {
        var worst: Double = 0
        var x: Float = -6
        while x < 6 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 1.1e-4 })
            let e = FastMath.erf(v)
            for i in 0..<8 { worst = max(worst, abs(Double(e[i]) - Foundation.erf(Double(v[i])))) }
            x += 9.1e-4
        }
        XCTAssertLessThanOrEqual(worst, 4e-7, "worst error \(worst)")
        XCTAssertEqual(FastMath.erf(0), 0)
        XCTAssertEqual(FastMath.erf(10), 1)
        XCTAssertEqual(FastMath.erf(-Float.infinity), -1)
        XCTAssertEqual(FastMath.erf(-0.3), -FastMath.erf(0.3))
        XCTAssertTrue(FastMath.erf(Float.nan).isNaN)
    }
}
