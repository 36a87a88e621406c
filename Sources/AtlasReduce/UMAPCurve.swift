#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The low-dimensional similarity curve of UMAP, 1 / (1 + a·x^(2b)).
public enum UMAPCurve {
    /// Fits (a, b) by least squares to the offset exponential that is 1 below `minDist` and
    /// exp(−(x − minDist)/spread) above it, on 300 points of [0, 3·spread] — umap-learn's `find_ab_params`
    /// (scipy `curve_fit`, Levenberg–Marquardt from (1, 1)), here a Levenberg–Marquardt in double precision.
    public static func findABParams(spread: Double, minDist: Double) throws -> (a: Double, b: Double) {
        guard spread > 0, spread.isFinite else { throw ReduceError.invalidParameter("spread must be > 0, got \(spread)") }
        guard minDist >= 0, minDist <= spread, minDist.isFinite else {
            throw ReduceError.invalidParameter("minDist must be in [0, spread], got \(minDist)")
        }
        let count = 300
        var xs = [Double](repeating: 0, count: count), ys = [Double](repeating: 0, count: count)
        for i in 0..<count {
            // np.linspace(0, 3·spread, 300)
            let x = i == count - 1 ? 3 * spread : Double(i) * (3 * spread / Double(count - 1))
            xs[i] = x
            ys[i] = x < minDist ? 1 : exp(-(x - minDist) / spread)
        }
        func sse(_ a: Double, _ b: Double) -> Double {
            var s = 0.0
            for i in 0..<count {
                let r = 1 / (1 + a * pow(xs[i], 2 * b)) - ys[i]
                s += r * r
            }
            return s
        }
        var a = 1.0, b = 1.0, lambda = 1e-3
        var current = sse(a, b)
        for _ in 0..<1000 {
            // Normal equations JᵀJ δ = −Jᵀr for the two parameters.
            var jaa = 0.0, jab = 0.0, jbb = 0.0, ga = 0.0, gb = 0.0
            for i in 0..<count {
                let x = xs[i]
                let p = x > 0 ? pow(x, 2 * b) : 0
                let den = 1 + a * p
                let f = 1 / den
                let r = f - ys[i]
                let da = -p / (den * den)
                let db = x > 0 ? -a * p * 2 * log(x) / (den * den) : 0
                jaa += da * da; jab += da * db; jbb += db * db
                ga += da * r; gb += db * r
            }
            var improved = false
            while lambda < 1e12 {
                let m00 = jaa * (1 + lambda), m11 = jbb * (1 + lambda), m01 = jab
                let det = m00 * m11 - m01 * m01
                if det == 0 || !det.isFinite { lambda *= 10; continue }
                let da = -(m11 * ga - m01 * gb) / det
                let db = -(m00 * gb - m01 * ga) / det
                let next = sse(a + da, b + db)
                if next.isFinite && next <= current {
                    let small = abs(da) <= 1e-14 * (abs(a) + 1e-14) && abs(db) <= 1e-14 * (abs(b) + 1e-14)
                    a += da; b += db
                    let drop = current - next
                    current = next
                    lambda = max(lambda / 10, 1e-15)
                    improved = !(small || drop <= 1e-18 * max(current, 1e-300))
                    break
                }
                lambda *= 10
            }
            if !improved { break }
        }
        guard a.isFinite, b.isFinite, a > 0, b > 0 else {
            throw ReduceError.invalidParameter("curve fit failed for spread \(spread), minDist \(minDist)")
        }
        return (a, b)
    }
}
