import AtlasCore
import AtlasReduce

/// One occupied cell of an atlas grid.
public struct GridCell: Sendable, Equatable {
    /// Column (0 at x = 0) and row (0 at y = 0) in a G×G grid.
    public let x: Int
    public let y: Int
    /// Indices of the points in the cell, ascending.
    public let members: [Int]
    /// Number of points in the cell.
    public var count: Int { members.count }
}

/// The occupied cells of one G×G grid over a unit-square layout, and their mean activation vectors.
public struct AtlasGrid: Sendable {
    /// Cells per side G.
    public let size: Int
    /// Cells with at least the minimum count, ordered by row (y) then column (x).
    public let cells: [GridCell]
    /// Mean activation of each cell, [cells.count, D]; row r belongs to `cells[r]`.
    public let means: Tensor

    /// Bins `layout` ([N, 2], coordinates in [0, 1], e.g. from `LayoutNormalization`) into a G×G grid: point
    /// (u, v) falls in column min(G − 1, ⌊u·G⌋) and row min(G − 1, ⌊v·G⌋) (cells half-open, the last one closed).
    /// Cells with fewer than `minCount` points are dropped; each kept cell's mean of `activations` ([N, D]) is
    /// accumulated in double over its members in index order.
    public init(layout: Tensor, activations: Tensor, size: Int, minCount: Int = 1) throws {
        let (n, dims) = try checkMatrix(layout, name: "layout")
        guard dims == 2 else { throw ReduceError.invalidShape("layout must be [N, 2], got \(layout.shape)") }
        let (na, d) = try checkMatrix(activations, name: "activations")
        guard na == n else { throw ReduceError.invalidShape("layout has \(n) points, activations \(na)") }
        guard size >= 1, size <= 1 << 15 else { throw ReduceError.invalidParameter("grid size must be in 1...32768, got \(size)") }
        guard minCount >= 1 else { throw ReduceError.invalidParameter("minCount must be ≥ 1, got \(minCount)") }
        var buckets = [Int: [Int]]()
        for i in 0..<n {
            let u = layout.data[2 * i], v = layout.data[2 * i + 1]
            guard (0...1).contains(u), (0...1).contains(v) else {
                throw ReduceError.invalidParameter("layout point \(i) (\(u), \(v)) is outside [0, 1]²")
            }
            let cx = min(size - 1, Int(u * Float(size))), cy = min(size - 1, Int(v * Float(size)))
            buckets[cy * size + cx, default: []].append(i)
        }
        let kept = buckets.keys.sorted().filter { buckets[$0]!.count >= minCount }
        let cells = kept.map { GridCell(x: $0 % size, y: $0 / size, members: buckets[$0]!) }
        let means = Tensor(zeros: [cells.count, d])
        let src = activations.data, dst = means.data
        Parallel.forEach(cells.count) { c in
            var sum = [Double](repeating: 0, count: d)
            for i in cells[c].members { for j in 0..<d { sum[j] += Double(src[i * d + j]) } }
            let inv = 1 / Double(cells[c].count)
            for j in 0..<d { dst[c * d + j] = Float(sum[j] * inv) }
        }
        self.size = size
        self.cells = cells
        self.means = means
    }

    /// One grid per size in `sizes` (e.g. [20, 40, 80]) over the same layout.
    public static func grids(layout: Tensor, activations: Tensor, sizes: [Int], minCount: Int = 1) throws -> [AtlasGrid] {
        try sizes.map { try AtlasGrid(layout: layout, activations: activations, size: $0, minCount: minCount) }
    }
}
