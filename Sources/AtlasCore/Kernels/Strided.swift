/// Strided element copies: the one memory-movement kernel behind Transpose, Slice and their gradients.
public enum Strided {
    /// For every multi-index i over `dims`: dst[Σ i_k·dstStrides_k] = src[Σ i_k·srcStrides_k] (or += with
    /// `accumulate`). Dimensions that are contiguous in both are merged; rows whose strides are both 1 become
    /// block copies. Runs in parallel over fixed chunks; with `accumulate` every destination element must
    /// be reached at most once.
    public static func copy(dims: [Int], src: UnsafePointer<Float>, srcStrides: [Int],
                            dst: UnsafeMutablePointer<Float>, dstStrides: [Int], accumulate: Bool = false) {
        var d = [Int](), ss = [Int](), ds = [Int]()
        for k in 0..<dims.count where dims[k] != 1 {
            if dims[k] == 0 { return }
            if let last = d.indices.last, ss[last] == srcStrides[k] * dims[k], ds[last] == dstStrides[k] * dims[k] {
                d[last] *= dims[k]; ss[last] = srcStrides[k]; ds[last] = dstStrides[k]
            } else {
                d.append(dims[k]); ss.append(srcStrides[k]); ds.append(dstStrides[k])
            }
        }
        if d.isEmpty { d = [1]; ss = [1]; ds = [1] }
        let total = d.reduce(1, *)
        let inner = d[d.count - 1], si = ss[d.count - 1], di = ds[d.count - 1]
        let od = Array(d.dropLast()), os = Array(ss.dropLast()), odst = Array(ds.dropLast())
        Parallel.forRanges(total, grain: Broadcast.grain) { range in
            var pos = range.lowerBound
            while pos < range.upperBound {
                let row = pos / inner, col = pos % inner
                let n = min(inner - col, range.upperBound - pos)
                let s = src + Broadcast.offset(of: row, dims: od, strides: os) + col * si
                let t = dst + Broadcast.offset(of: row, dims: od, strides: odst) + col * di
                if accumulate {
                    for i in 0..<n { t[i * di] += s[i * si] }
                } else if si == 1 && di == 1 {
                    t.update(from: s, count: n)
                } else {
                    for i in 0..<n { t[i * di] = s[i * si] }
                }
                pos += n
            }
        }
    }
}
