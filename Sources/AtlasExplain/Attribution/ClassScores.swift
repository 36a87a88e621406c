/// Class probabilities from a model's output rows.
import Foundation

public enum ClassScores {
    /// The row as probabilities: unchanged when it already is a distribution (a Softmax output), else softmax.
    public static func probabilities(_ row: [Float]) -> [Float] {
        let sum = row.reduce(0, +)
        if row.allSatisfy({ $0 >= 0 && $0 <= 1 }) && abs(sum - 1) < 1e-3 { return row }
        let m = row.max() ?? 0
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Indices of the `k` largest values, largest first (ties: lower index first).
    public static func top(_ values: [Float], k: Int) -> [Int] {
        let order = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        return Array(order.prefix(max(0, k)))
    }
}
