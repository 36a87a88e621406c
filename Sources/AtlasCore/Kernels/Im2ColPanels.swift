import CKernels

/// The im2col matrix of a convolution, packed panel by panel straight from the input (`GEMM.PanelSource`), so the
/// column matrix is never stored and one product may span several images.
extension ConvGeometry {
    /// Writes rows `p0..<p0+kcb` and columns `j0..<j0+cols` (`cols` ≤ `nr`) of group `group`'s im2col matrix over the
    /// whole batch as one packed GEMM panel: `panel[(p − p0)·nr + (j − j0)]`, zero in the columns past `cols`.
    /// Row p = (c·kH + ki)·kW + kj as in `im2col`; column j = image·outPlane + oh·outW + ow; the value is
    /// x[image, c, inputRow(oh, ki), ow·sW + kj·dW − padLeft], or 0 outside the input. `x` is the batch's input.
    func packPanel(_ x: UnsafePointer<Float>, group: Int, p0: Int, kcb: Int, j0: Int, cols: Int, nr: Int,
                   into panel: UnsafeMutablePointer<Float>) {
        if cols < nr {
            for p in 0..<kcb { (panel + p * nr + cols).update(repeating: 0, count: nr - cols) }
        }
        let end = j0 + cols
        var j = j0
        if isPointwise {
            // Row p is channel p: each image's columns are one contiguous run of its plane.
            while j < end {
                let n = j / outPlane, pos = j - n * outPlane
                let len = min(outPlane - pos, end - j)
                let src = x + (n * channels + group * groupChannels + p0) * inPlane + pos
                let dst = panel + (j - j0)
                for p in 0..<kcb {
                    // The next panel's lines of this row (kcb rows are kcb streams).
                    ck_prefetch_line(src + p * inPlane + nr)
                    ck_prefetch_line(src + p * inPlane + nr + 16)
                    (dst + p * nr).update(from: src + p * inPlane, count: len)
                }
                j += len
            }
            return
        }
        let taps = kernelH * kernelW
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * kernelW) { table in
            // columnRange(kj) for every kernel column: lo, hi, offset.
            for kj in 0..<kernelW {
                let (lo, hi, offset) = columnRange(kj)
                table[3 * kj] = lo; table[3 * kj + 1] = hi; table[3 * kj + 2] = offset
            }
            // One run per output row touched: columns of the same image and output row.
            while j < end {
                let n = j / outPlane, pos = j - n * outPlane
                let oh = pos / outW, ow0 = pos - oh * outW
                let len = min(outW - ow0, end - j), ow1 = ow0 + len
                let image = x + (n * channels + group * groupChannels) * inPlane
                var c = p0 / taps, ki = (p0 % taps) / kernelW, kj = p0 % kernelW
                var dst = panel + (j - j0)
                for _ in 0..<kcb {
                    let ih = inputRow(oh, ki)
                    if ih < 0 || ih >= height {
                        dst.update(repeating: 0, count: len)
                    } else {
                        let a = min(max(table[3 * kj], ow0), ow1), b = max(min(table[3 * kj + 1], ow1), a)
                        if a > ow0 { dst.update(repeating: 0, count: a - ow0) }
                        let src = image + c * inPlane + ih * width + table[3 * kj + 2]
                        let out = dst - ow0
                        if strideW == 1 {
                            (out + a).update(from: src + a, count: b - a)
                        } else if strideW == 2 {
                            // Eight even elements of a 16-wide load while the load's last (odd) element is still an
                            // input of this row (its even successor, column ow + 8, is one).
                            var ow = a
                            while ow + 8 < b {
                                let v = UnsafeRawPointer(src + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
                                UnsafeMutableRawPointer(out + ow).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                                ow += 8
                            }
                            while ow < b { out[ow] = src[2 * ow]; ow += 1 }
                        } else {
                            for ow in a..<b { out[ow] = src[ow * strideW] }
                        }
                        if b < ow1 { (out + b).update(repeating: 0, count: ow1 - b) }
                    }
                    kj += 1
                    if kj == kernelW {
                        kj = 0
                        ki += 1
                        if ki == kernelH { ki = 0; c += 1 }
                    }
                    dst += nr
                }
                j += len
            }
        }
    }
}
