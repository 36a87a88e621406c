import AtlasCore
import AtlasReduce

/// Fits a 2-D layout into the unit square the way the activation-atlas notebooks do (`normalize_layout`):
/// per axis, take the `lowerPercentile`–`upperPercentile` range [lo, hi], widen it by `margin` on each side
/// (lo −= margin·(hi − lo), then hi += margin·(hi − lo) with the widened lo, as the notebook), clip the
/// coordinates to that window, then min–max scale the clipped values to [0, 1]. Outliers land on the border
/// instead of squeezing the bulk of the points; an axis with no spread maps to 0.5.
public enum LayoutNormalization {
    /// The normalised copy of `layout` ([N, 2]).
    public static func normalize(_ layout: Tensor, lowerPercentile: Double = 1, upperPercentile: Double = 99,
                                 margin: Double = 0.1) throws -> Tensor {
        let (n, dims) = try checkMatrix(layout, name: "layout")
        guard dims == 2 else { throw ReduceError.invalidShape("layout must be [N, 2], got \(layout.shape)") }
        guard 0 <= lowerPercentile, lowerPercentile <= upperPercentile, upperPercentile <= 100 else {
            throw ReduceError.invalidParameter("percentiles must satisfy 0 ≤ lower ≤ upper ≤ 100")
        }
        guard margin >= 0, margin.isFinite else { throw ReduceError.invalidParameter("margin must be ≥ 0") }
        let out = Tensor(zeros: [n, 2])
        for axis in 0..<2 {
            let values = (0..<n).map { Double(layout.data[2 * $0 + axis]) }
            var lo = percentile(values, lowerPercentile), hi = percentile(values, upperPercentile)
            lo -= margin * (hi - lo)
            hi += margin * (hi - lo)
            let clipped = values.map { min(hi, max(lo, $0)) }
            let cmin = clipped.min() ?? 0, cmax = clipped.max() ?? 0
            for i in 0..<n {
                out.data[2 * i + axis] = cmax > cmin ? Float((clipped[i] - cmin) / (cmax - cmin)) : 0.5
            }
        }
        return out
    }

    /// The q-th percentile (0…100) with linear interpolation between order statistics (NumPy's default).
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty, "percentile of no values")
        let sorted = values.sorted()
        let position = q / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(sorted.count - 1, lower + 1)
        let t = position - Double(lower)
        return sorted[lower] + t * (sorted[upper] - sorted[lower])
    }
}
