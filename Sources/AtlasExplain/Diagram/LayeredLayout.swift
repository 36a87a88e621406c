/// `LayeredLayout`: Atlas's own top-to-bottom layout of a `NetworkDiagram`, for machines without Graphviz — a
/// small Sugiyama scheme: ranks by longest path from the inputs, virtual points on edges that span several ranks,
/// barycentre ordering sweeps, then x positions pulled towards neighbours with a minimum gap. Parallel branches
/// land side by side; it is plainer than `dot` (straight segments, no edge-label placement).
import Foundation

public enum LayeredLayout {
    /// The diagram as an SVG document; nodes whose value is in `links` link there. Each node's and edge's `<g>`
    /// carries a `<title>` with its id or `from->to`, as Graphviz writes them.
    public static func svg(_ d: NetworkDiagram, links: [String: String] = [:]) -> String {
        let n = d.nodes.count
        let index = Dictionary(uniqueKeysWithValues: d.nodes.enumerated().map { ($1.id, $0) })
        let edges = d.edges.compactMap { e -> (Int, Int)? in
            guard let a = index[e.from], let b = index[e.to] else { return nil }
            return (a, b)
        }
        // Ranks: nodes come in topological order, so one pass gives the longest path from a source.
        var rank = [Int](repeating: 0, count: n)
        for (a, b) in edges.sorted(by: { $0.1 < $1.1 }) { rank[b] = max(rank[b], rank[a] + 1) }
        // Points: real nodes, then virtual points of long edges; each edge becomes a chain of unit segments.
        var pointRank = rank, chains: [[Int]] = []
        for (a, b) in edges {
            var chain = [a]
            for r in (rank[a] + 1)..<max(rank[a] + 1, rank[b]) { pointRank.append(r); chain.append(pointRank.count - 1) }
            chain.append(b)
            chains.append(chain)
        }
        let points = pointRank.count
        var up = [[Int]](repeating: [], count: points), down = [[Int]](repeating: [], count: points)
        for chain in chains { for (p, q) in zip(chain, chain.dropFirst()) { down[p].append(q); up[q].append(p) } }
        let ranks = (pointRank.max() ?? 0) + 1
        var layers = [[Int]](repeating: [], count: ranks)
        for p in 0..<points { layers[pointRank[p]].append(p) }

        let lines = d.nodes.map(\.lines)
        let width = (0..<points).map { p -> Double in p < n ? Double(lines[p].map(\.text.count).max() ?? 4) * 6.4 + 20 : 2 }
        let height = (0..<n).map { Double(lines[$0].count) * 13 + 10 }
        let rowHeight = (0..<ranks).map { r in layers[r].filter { $0 < n }.map { height[$0] }.max() ?? 0 }
        // Ordering: barycentre sweeps down and up.
        var pos = [Double](repeating: 0, count: points)
        func renumber() { for layer in layers { for (i, p) in layer.enumerated() { pos[p] = Double(i) } } }
        renumber()
        for sweep in 0..<8 {
            let order = sweep % 2 == 0 ? Array(1..<max(1, ranks)) : Array((0..<max(0, ranks - 1)).reversed())
            for r in order {
                let key = { (p: Int) -> Double in
                    let nb = sweep % 2 == 0 ? up[p] : down[p]
                    return nb.isEmpty ? pos[p] : nb.map { pos[$0] }.reduce(0, +) / Double(nb.count)
                }
                layers[r] = layers[r].enumerated().sorted { (key($0.1), $0.0) < (key($1.1), $1.0) }.map(\.1)
                renumber()
            }
        }
        // x: start packed, then pull each point to the mean of its neighbours, keeping order and gaps.
        var x = [Double](repeating: 0, count: points)
        let gap = 24.0
        for layer in layers { var cursor = 0.0; for p in layer { x[p] = cursor + width[p] / 2; cursor += width[p] + gap } }
        for sweep in 0..<12 {
            for r in (sweep % 2 == 0 ? Array(0..<ranks) : Array((0..<ranks).reversed())) {
                let layer = layers[r]
                var want = layer.map { p -> Double in
                    let nb = up[p] + down[p]
                    return nb.isEmpty ? x[p] : nb.map { x[$0] }.reduce(0, +) / Double(nb.count)
                }
                want = LayeredLayout.closest(want, widths: layer.map { width[$0] }, gap: gap)
                for (i, p) in layer.enumerated() { x[p] = want[i] }
            }
        }
        let minX = (0..<points).map { x[$0] - width[$0] / 2 }.min() ?? 0
        for p in 0..<points { x[p] += 20 - minX }
        var y = [Double](repeating: 0, count: ranks), cursor = 50.0
        for r in 0..<ranks { y[r] = cursor + rowHeight[r] / 2; cursor += rowHeight[r] + 46 }
        let totalWidth = ((0..<points).map { x[$0] + width[$0] / 2 }.max() ?? 100) + 20

        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"\(Int(totalWidth))pt\" "
            + "height=\"\(Int(cursor))pt\" viewBox=\"0 0 \(Int(totalWidth)) \(Int(cursor))\" font-family=\"Helvetica,Arial,sans-serif\">\n"
        s += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\">"
            + "<path d=\"M0,0L10,5L0,10z\" fill=\"#777\"/></marker></defs>\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Int(totalWidth / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\">\(xml(d.title))</text>\n"
        for (k, chain) in chains.enumerated() {
            let e = d.edges[k]
            var coords: [(Double, Double)] = []
            for (i, p) in chain.enumerated() {
                let yy = y[pointRank[p]]
                if p < n { coords.append((x[p], yy + (i == 0 ? height[p] / 2 : -height[p] / 2))) } else { coords.append((x[p], yy)) }
            }
            let path = coords.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ")
            s += "<g class=\"edge\"><title>\(xml(e.from))-&gt;\(xml(e.to))</title><polyline points=\"\(path)\" fill=\"none\" stroke=\"#777\" "
                + "marker-end=\"url(#arrow)\"><title>\(xml(e.tensor))</title></polyline>"
            if let shape = e.shape, coords.count >= 2 {
                let (mx, my) = ((coords[0].0 + coords[1].0) / 2, (coords[0].1 + coords[1].1) / 2)
                s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"8\" fill=\"#555\">", mx + 4, my + 3)
                    + "\(NetworkDiagram.shapeText(shape))</text>"
            }
            s += "</g>\n"
        }
        for (i, node) in d.nodes.enumerated() {
            let (w, h) = (width[i], height[i]), left = x[i] - width[i] / 2, top = y[rank[i]] - height[i] / 2
            var g = "<g class=\"node\"><title>\(xml(node.id))</title>"
            g += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"8\" fill=\"%@\" stroke=\"%@\" stroke-width=\"%@\">",
                        left, top, w, h, NetworkDiagram.fill(node.op), links[node.value] == nil ? "#555" : "#1f6feb",
                        links[node.value] == nil ? "1" : "2") + "<title>\(xml(node.value))</title></rect>"
            for (k, line) in lines[i].enumerated() {
                g += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\"%@>", x[i], top + 16 + Double(k) * 13,
                            line.bold ? " font-weight=\"bold\"" : (k >= 2 ? " fill=\"#444\"" : "")) + "\(xml(line.text))</text>"
            }
            g += "</g>"
            if let url = links[node.value] { g = "<a xlink:href=\"\(xml(url))\" target=\"_top\">\(g)</a>" }
            s += g + "\n"
        }
        return s + "</svg>\n"
    }

    /// Positions in the given order, each at least (wᵢ₋₁ + wᵢ)/2 + gap right of the previous, as close as possible
    /// (least squares) to `want`: isotonic regression of want − offset by pooling adjacent violators.
    static func closest(_ want: [Double], widths: [Double], gap: Double) -> [Double] {
        var offset = [Double](repeating: 0, count: want.count)
        for i in want.indices.dropFirst() { offset[i] = offset[i - 1] + (widths[i - 1] + widths[i]) / 2 + gap }
        var blocks: [(sum: Double, count: Double)] = []
        for i in want.indices {
            blocks.append((want[i] - offset[i], 1))
            while blocks.count > 1, blocks[blocks.count - 2].sum / blocks[blocks.count - 2].count > blocks[blocks.count - 1].sum / blocks[blocks.count - 1].count {
                let last = blocks.removeLast()
                blocks[blocks.count - 1].sum += last.sum
                blocks[blocks.count - 1].count += last.count
            }
        }
        var z: [Double] = []
        for b in blocks { z += Array(repeating: b.sum / b.count, count: Int(b.count)) }
        return zip(z, offset).map { $0 + $1 }
    }

    static func xml(_ s: String) -> String { ContactSheet.escape(s) }
}
