/// MaxPool's vectorized forward kernels for unit column dilation and column stride 1 or 2.
extension MaxPool {
    /// Folds the windows of eight outputs in one input row (`kw` taps from `base`, column stride 1 or 2) into `best`:
    /// a tap replaces the best only when greater, so the first of equal maxima stays and NaN never enters.
    @inline(__always)
    static func foldRow8(_ best: inout SIMD8<Float>, _ base: UnsafePointer<Float>, kw: Int, sw: Int) {
        if sw == 1 {
            for j in 0..<kw { let v = load8(base + j); best = best.replacing(with: v, where: v .> best) }
        } else {
            for j in 0..<kw { let v = load16(base + j).evenHalf; best = best.replacing(with: v, where: v .> best) }
        }
    }

    /// Forward of one plane in two passes, for unit column dilation and column stride 1 or 2: the maximum of every
    /// input row over each output column's window (`rows`, inH × outW; eight at a time where the window lies inside
    /// the row, as in `forwardPlane`), then the maximum over each output row's window of those. Each pass keeps the
    /// first of equal maxima (a value replaces the best only when greater; NaN never does), so the result is the
    /// row-major scan's, bit for bit.
    static func forwardSeparable(_ g: PoolGeometry, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                 rows: UnsafeMutablePointer<Float>) {
        let sw = g.sw, kw = g.kw, inW = g.inW, outW = g.outW
        let (vecStart, vecEnd) = g.vectorColumns
        for h in 0..<g.inH {
            let row = src + h * inW, out = rows + h * outW
            var ow = 0
            while ow < outW {
                if ow >= vecStart && ow < vecEnd && vecEnd - vecStart >= 8 {
                    let q = Swift.min(ow, vecEnd - 8)
                    var best = SIMD8<Float>(repeating: -.infinity)
                    MaxPool.foldRow8(&best, row + q * sw - g.left, kw: kw, sw: sw)
                    store8(best, out + q)
                    ow = q + 8
                } else {
                    var best = -Float.infinity
                    let w0 = ow * sw - g.left
                    for j in g.colLo[ow]..<g.colHi[ow] { let v = row[w0 + j]; if v > best { best = v } }
                    out[ow] = best
                    ow += 1
                }
            }
        }
        for oh in 0..<g.outH {
            let h0 = oh * g.sh - g.top, i0 = g.rowLo[oh], i1 = g.rowHi[oh]
            let out = dst + oh * outW
            var ow = 0
            while ow + 16 <= outW {
                var best = SIMD16<Float>(repeating: -.infinity)
                for i in i0..<i1 {
                    let v = load16(rows + (h0 + i * g.dh) * outW + ow)
                    best = best.replacing(with: v, where: v .> best)
                }
                UnsafeMutableRawPointer(out + ow).storeBytes(of: best, as: SIMD16<Float>.self)
                ow += 16
            }
            while ow + 8 <= outW {
                var best = SIMD8<Float>(repeating: -.infinity)
                for i in i0..<i1 {
                    let v = load8(rows + (h0 + i * g.dh) * outW + ow)
                    best = best.replacing(with: v, where: v .> best)
                }
                store8(best, out + ow)
                ow += 8
            }
            while ow < outW {
                var best = -Float.infinity
                for i in i0..<i1 { let v = rows[(h0 + i * g.dh) * outW + ow]; if v > best { best = v } }
                out[ow] = best
                ow += 1
            }
        }
    }

    /// Forward of one plane for unit column dilation and column stride 1 or 2: eight outputs at a time where
    /// the whole window row lies inside the input (stride 2 deinterleaves a 16-wide load; a row's last block
    /// may overlap the previous one), scalar elsewhere.
    static func forwardPlane(_ g: PoolGeometry, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let rowLo = g.rowLo, rowHi = g.rowHi
        let sw = g.sw, kw = g.kw, inW = g.inW
        let (vecStart, vecEnd) = g.vectorColumns
        for oh in 0..<g.outH {
            let h0 = oh * g.sh - g.top
            let i0 = rowLo[oh], i1 = rowHi[oh]
            let out = dst + oh * g.outW
            var ow = 0
            while ow < g.outW {
                if ow >= vecStart && ow < vecEnd && vecEnd - vecStart >= 8 {
                    // The last block of a row may overlap the one before (max is exact, so the bits are the same).
                    let q = Swift.min(ow, vecEnd - 8)
                    var best = SIMD8<Float>(repeating: -.infinity)
                    for i in i0..<i1 { MaxPool.foldRow8(&best, src + (h0 + i * g.dh) * inW + q * sw - g.left, kw: kw, sw: sw) }
                    store8(best, out + q)
                    ow = q + 8
                } else {
                    out[ow] = firstMax(g, src, oh, ow).1
                    ow += 1
                }
            }
        }
    }
}
