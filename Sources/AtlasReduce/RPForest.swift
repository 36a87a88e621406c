import AtlasCore

/// Leaves of one random-projection tree: a permutation of the points and the start of each leaf in it.
struct RPTreeLeaves {
    var order: [Int32]
    /// Leaf `l` is `order[starts[l] ..< starts[l + 1]]`.
    var starts: [Int]
    var leafCount: Int { starts.count - 1 }
}

/// Random-projection trees as pynndescent builds them to seed NN-descent: each node splits its points by the
/// hyperplane equidistant from two random members (through the origin between their directions for angular
/// trees, used with the cosine metric), until a node holds at most `leafSize` points.
enum RPForest {
    /// Splits ending within this margin of the hyperplane go to a random side, as in pynndescent.
    static let marginEpsilon: Float = 1e-8
    /// Deeper nodes are halved by position (guards against degenerate data such as many duplicates).
    static let maxDepth = 200

    /// Builds `trees` trees in parallel; tree `t` draws only from stream (seed, t), so the forest is the same
    /// at any thread count.
    static func build(_ rows: PaddedRows, trees: Int, leafSize: Int, angular: Bool, seed: UInt64) -> [RPTreeLeaves] {
        Parallel.mapChunks(trees) { t in
            var rng = SplitMix64(seed: seed, stream: 0x5250_0000 &+ UInt64(t))
            return buildTree(rows, leafSize: max(2, leafSize), angular: angular, rng: &rng)
        }
    }

    static func buildTree(_ rows: PaddedRows, leafSize: Int, angular: Bool, rng: inout SplitMix64) -> RPTreeLeaves {
        let n = rows.n, stride = rows.stride
        var order = (0..<n).map { Int32($0) }
        var starts = [Int]()
        let normal = UnsafeMutablePointer<Float>.allocate(capacity: stride)
        let side = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, n))
        let temp = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, n))
        defer { normal.deallocate(); side.deallocate(); temp.deallocate() }
        // Depth-first, left child first: leaves come out in a fixed order.
        var stack: [(lo: Int, hi: Int, depth: Int)] = [(0, n, 0)]
        order.withUnsafeMutableBufferPointer { ob in
            let ord = ob.baseAddress!
            while let node = stack.popLast() {
                let count = node.hi - node.lo
                if count <= leafSize {
                    starts.append(node.lo)
                    continue
                }
                var left = 0
                if node.depth < maxDepth {
                    left = split(rows, ord + node.lo, count: count, angular: angular, normal: normal,
                                 side: side, rng: &rng)
                }
                if left == 0 || left == count {
                    // Halve by position: still a valid partition, and guarantees progress.
                    left = count / 2
                    for i in 0..<count { side[i] = i < left ? 0 : 1 }
                }
                var l = 0, r = left
                for i in 0..<count {
                    if side[i] == 0 { temp[l] = ord[node.lo + i]; l += 1 } else { temp[r] = ord[node.lo + i]; r += 1 }
                }
                (ord + node.lo).update(from: temp, count: count)
                stack.append((node.lo + left, node.hi, node.depth + 1))
                stack.append((node.lo, node.lo + left, node.depth + 1))
            }
        }
        starts.append(n)
        return RPTreeLeaves(order: order, starts: starts)
    }

    /// Marks each of `count` points (`side[i]` 0 or 1) and returns how many went left (side 0).
    private static func split(_ rows: PaddedRows, _ members: UnsafeMutablePointer<Int32>, count: Int, angular: Bool,
                              normal: UnsafeMutablePointer<Float>, side: UnsafeMutablePointer<UInt8>,
                              rng: inout SplitMix64) -> Int {
        let stride = rows.stride
        let i0 = rng.nextInt(below: count)
        var i1 = rng.nextInt(below: count - 1)
        if i1 >= i0 { i1 += 1 }
        let a = rows.row(Int(members[i0])), b = rows.row(Int(members[i1]))
        var offset: Float = 0
        if angular {
            var na = dotPadded(a, a, stride).squareRoot(), nb = dotPadded(b, b, stride).squareRoot()
            if na == 0 { na = 1 }
            if nb == 0 { nb = 1 }
            for j in 0..<stride { normal[j] = a[j] / na - b[j] / nb }
            var nn = dotPadded(normal, normal, stride).squareRoot()
            if nn == 0 { nn = 1 }
            for j in 0..<stride { normal[j] /= nn }
        } else {
            for j in 0..<stride { normal[j] = a[j] - b[j] }
            offset = -0.5 * (dotPadded(a, a, stride) - dotPadded(b, b, stride))
        }
        var left = 0
        for i in 0..<count {
            let m = offset + dotPadded(normal, rows.row(Int(members[i])), stride)
            let s: UInt8
            if abs(m) < marginEpsilon { s = UInt8(rng.next() & 1) } else { s = m > 0 ? 0 : 1 }
            side[i] = s
            if s == 0 { left += 1 }
        }
        if left == 0 || left == count {
            left = 0
            for i in 0..<count {
                side[i] = UInt8(rng.next() & 1)
                if side[i] == 0 { left += 1 }
            }
        }
        return left
    }
}
