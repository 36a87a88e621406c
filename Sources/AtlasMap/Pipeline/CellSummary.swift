/// What the index says about one atlas cell besides its icon: activation norm, the classes its samples attribute
/// most to (mean over the cell's samples, a class missing from a sample's top list counting 0), and a few samples.
import AtlasCore
import AtlasOutput
import Foundation

public enum CellSummary {
    /// Top `count` classes of the cell whose rows are `members`: mean value per class over the members, best first
    /// (ties by class index). Labels come from `labels` when it covers the class.
    public static func topClasses(_ members: [Int], records: [CollectRecord], labels: [String]?, count: Int) -> [AtlasIndex.TopEntry] {
        var sums: [Int: Double] = [:]
        for m in members {
            let r = records[m]
            for (k, c) in r.classes.enumerated() where k < r.values.count { sums[c, default: 0] += Double(r.values[k]) }
        }
        let n = Double(max(members.count, 1))
        let ranked = sums.keys.sorted { (sums[$0]! > sums[$1]!) || (sums[$0]! == sums[$1]! && $0 < $1) }
        return ranked.prefix(count).map { c in
            AtlasIndex.TopEntry(label: labels.flatMap { c < $0.count ? $0[c] : nil } ?? "\(c)", index: c, value: sums[c]! / n)
        }
    }

    /// The first `count` members as samples (image name and position on the layer grid), each with its crop from
    /// `thumbs` (by `SampleCrops.path`) when there is one.
    public static func samples(_ members: [Int], records: [CollectRecord], count: Int, thumbs: [String: String] = [:]) -> [AtlasIndex.Sample] {
        members.prefix(count).map { m in
            let r = records[m]
            return AtlasIndex.Sample(path: safePath(r.image), x: r.x, y: r.y, thumb: thumbs[SampleCrops.path(item: r.item, x: r.x, y: r.y)])
        }
    }

    /// A path the index accepts (relative, `/`-separated, no `..`): offending parts are dropped.
    static func safePath(_ name: String) -> String {
        let parts = name.replacingOccurrences(of: "\\", with: "/").split(separator: "/").filter { $0 != ".." && $0 != "." }
        return parts.isEmpty ? "image" : parts.joined(separator: "/")
    }

    /// Euclidean norm of row `r` of `[M, D]`.
    public static func norm(_ t: Tensor, row r: Int) -> Double {
        let d = t.shape[1]
        var s = 0.0
        for j in 0..<d { let v = Double(t.data[r * d + j]); s += v * v }
        return s.squareRoot()
    }
}
