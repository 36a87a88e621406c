import CKernels

/// MaxPool's vectorized kernels for unit column dilation and column stride 1 or 2: forward, and the portable backward
/// that finds each window's first maximum again (see `MaxPoolArgmax.swift` for the 16-lane search).
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

    /// Per position of one plane, which of its 3×3 window's neighbours exist: bit 0 left, 1 right, 2 up, 3 down.
    static func planeEdges(_ g: PoolGeometry) -> [Int32] {
        (0..<(g.inH * g.inW)).map { j in
            let r = j / g.inW, c = j % g.inW
            return Int32((c > 0 ? 1 : 0) | (c < g.inW - 1 ? 2 : 0) | (r > 0 ? 4 : 0) | (r < g.inH - 1 ? 8 : 0))
        }
    }

    /// 3×3, stride 1, padding 1 (output plane = input plane) for planes of any width: the column pass and then the
    /// row pass each run over the plane as one row of H·W values, eight at a time, a window's missing neighbours
    /// (the plane's edges, `edges`) masked out. Taps are folded in scan order (left, centre, right; up, centre,
    /// down) and replace the best only when greater, so the result is the scan's, bit for bit. `scratch` holds
    /// 2·H·W + 2·W + 32 floats: the plane and the column maxima, each with guard floats around it.
    static func forward3x3Same(_ g: PoolGeometry, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               edges: [Int32], scratch: UnsafeMutablePointer<Float>) {
        let w = g.inW, count = g.inH * g.inW
        let x = scratch + 8, h = scratch + 16 + count + w
        x.update(from: src, count: count)
        (x - 8).update(repeating: -.infinity, count: 8)
        (x + count).update(repeating: -.infinity, count: 8)
        edges.withUnsafeBufferPointer { e in
            let flags = e.baseAddress!, zero = SIMD8<Int32>(repeating: 0)
            // One pass: each value against its neighbours `step` before and after, where its flags' bits say they exist.
            func pass(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, step: Int, before: Int32, after: Int32) {
                if count < 8 {
                    for j in 0..<count {
                        var best = -Float.infinity
                        if flags[j] & before != 0, s[j - step] > best { best = s[j - step] }
                        if s[j] > best { best = s[j] }
                        if flags[j] & after != 0, s[j + step] > best { best = s[j + step] }
                        d[j] = best
                    }
                    return
                }
                var j = 0
                while j < count {
                    let q = Swift.min(j, count - 8)   // the last block may overlap the one before (max is exact)
                    let f = UnsafeRawPointer(flags + q).loadUnaligned(as: SIMD8<Int32>.self)
                    let l = load8(s + q - step), c = load8(s + q), r = load8(s + q + step)
                    var best = SIMD8<Float>(repeating: -.infinity)
                    best.replace(with: l, where: (l .> best) .& ((f & before) .!= zero))
                    best.replace(with: c, where: c .> best)
                    best.replace(with: r, where: (r .> best) .& ((f & after) .!= zero))
                    store8(best, d + q)
                    j = q + 8
                }
            }
            pass(x, h, step: 1, before: 1, after: 2)
            pass(h, dst, step: w, before: 4, after: 8)
        }
    }

    /// A plane copied into a frame of −∞ wide enough that every window, and every output block's loads (lanes
    /// past the row's end included), lie inside it: `height × width` floats, the plane at (`top`, `left`).
    struct Frame {
        let top: Int, left: Int, height: Int, width: Int
        var count: Int { height * width }

        /// For blocks of `lanes` outputs: 8 (the last block of a row overlapping the one before) or 16 (the last
        /// block masked).
        init(_ g: PoolGeometry, lanes: Int) {
            top = g.top; left = g.left
            height = Swift.max(g.inH + g.top, (g.outH - 1) * g.sh + (g.kh - 1) * g.dh + 1)
            let lastBlock = lanes == 8 ? Swift.max(0, g.outW - 8) : (g.outW - 1) / lanes * lanes
            width = Swift.max(g.inW + g.left, (lastBlock + lanes) * g.sw + g.kw - 1)
        }

        /// Fills `f` with the plane `src` framed by −∞.
        func fill(_ f: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, rows: Int, columns: Int) {
            f.update(repeating: -.infinity, count: top * width)
            for r in 0..<rows {
                let row = f + (top + r) * width
                row.update(repeating: -.infinity, count: left)
                (row + left).update(from: src + r * columns, count: columns)
                (row + left + columns).update(repeating: -.infinity, count: width - left - columns)
            }
            (f + (top + rows) * width).update(repeating: -.infinity, count: (height - top - rows) * width)
        }
    }

    /// Backward of one plane for unit column dilation and column stride 1 or 2, over the plane in its −∞ `frame`
    /// (`scratch`, `frame.count` floats), so every output column runs eight at a time whatever the plane's size:
    /// each window's first maximum is found with lane masks (a tap wins only when greater, so −∞ frame cells and NaN
    /// never do), then each output's gradient is added at its argmax in output order, exactly as the scalar `scan`
    /// does. A row's last block may overlap the one before: only lanes from the first new output on add.
    /// Where the row kernels run, the 16-lane search of `argmaxFramed` and `scatter` do the same.
    static func backwardFramed(_ g: PoolGeometry, _ frame: Frame, _ src: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                               _ dx: UnsafeMutablePointer<Float>, scratch f: UnsafeMutablePointer<Float>) {
        frame.fill(f, from: src, rows: g.inH, columns: g.inW)
        let sw = g.sw, kw = g.kw, inW = g.inW, outW = g.outW, fw = frame.width
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &* Int32(sw)
        for oh in 0..<g.outH {
            let go = gy + oh * outW
            var ow = 0
            while ow < outW {
                let q = Swift.max(0, Swift.min(ow, outW - 8))
                var best = SIMD8<Float>(repeating: -.infinity), arg = SIMD8<Int32>(repeating: -1)
                for i in 0..<g.kh {
                    // Row r of the window in frame coordinates; in the plane, row r − top (indices of frame cells
                    // are never kept).
                    let r = oh * g.sh + i * g.dh
                    let base = f + r * fw + q * sw
                    let planeStart = Int32((r - frame.top) * inW + q * sw - frame.left)
                    for j in 0..<kw {
                        let v = sw == 1 ? load8(base + j) : load16(base + j).evenHalf
                        let better = v .> best
                        best.replace(with: v, where: better)
                        arg.replace(with: lanes &+ (planeStart + Int32(j)), where: better)
                    }
                }
                for k in (ow - q)..<Swift.min(8, outW - q) where arg[k] >= 0 { dx[Int(arg[k])] += go[q + k] }
                ow = q + 8
            }
        }
    }
}
