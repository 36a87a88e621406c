/// Geometry of a 2-D convolution on one NCHW input shape, and the column transforms around GEMM.
struct ConvGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let outChannels: Int, kernelH: Int, kernelW: Int
    let strideH: Int, strideW: Int, padTop: Int, padLeft: Int, dilationH: Int, dilationW: Int
    let groups: Int
    let outH: Int, outW: Int

    /// Input channels per group.
    var groupChannels: Int { channels / groups }
    /// Output channels per group.
    var groupOutChannels: Int { outChannels / groups }
    /// Rows of the im2col matrix of one group: Cg·kH·kW.
    var columnRows: Int { groupChannels * kernelH * kernelW }
    var inPlane: Int { height * width }
    var outPlane: Int { outH * outW }

    /// A 1×1, stride-1, unpadded convolution is a plain GEMM on the input planes.
    var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && outH == height && outW == width
    }

    /// A 1×1 convolution with a stride above 1 whose outputs all read inside the input (ResNet's downsampling
    /// shortcuts): it is the pointwise convolution of the input's strided subsample, whose channels and output
    /// plane it keeps. Nil for any other convolution.
    var subsampledPointwise: ConvGeometry? {
        guard kernelH == 1, kernelW == 1, strideH > 1 || strideW > 1, padTop == 0, padLeft == 0, outH > 0, outW > 0,
              (outH - 1) * strideH < height, (outW - 1) * strideW < width else { return nil }
        return ConvGeometry(batch: batch, channels: channels, height: outH, width: outW, outChannels: outChannels,
                            kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilationH: 1,
                            dilationW: 1, groups: groups, outH: outH, outW: outW)
    }

    /// Copies the pixels a `subsampledPointwise` convolution reads (every stride-th row and column) from `x`
    /// (this geometry's input) into `xs` ([batch, channels, outH, outW]), or with `scatter` back: `xs` into those
    /// positions of `x`, leaving the others as they are.
    func subsample(_ x: UnsafeMutablePointer<Float>, _ xs: UnsafeMutablePointer<Float>, scatter: Bool = false) {
        let dims = [batch * channels, outH, outW], full = [inPlane, strideH * width, strideW], sub = [outPlane, outW, 1]
        if scatter {
            Strided.copy(dims: dims, src: xs, srcStrides: sub, dst: x, dstStrides: full)
        } else {
            Strided.copy(dims: dims, src: x, srcStrides: full, dst: xs, dstStrides: sub)
        }
    }

    /// A pointwise convolution from this one's output (M channels, its plane) to C channels: the shape of the input
    /// gradient's product Wᵀ·dY, whose B is dY itself.
    var transposedPointwise: ConvGeometry {
        ConvGeometry(batch: batch, channels: outChannels, height: outH, width: outW, outChannels: channels, kernelH: 1,
                     kernelW: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, dilationH: 1, dilationW: 1,
                     groups: groups, outH: outH, outW: outW)
    }

    /// An ungrouped pointwise convolution of 1×1 planes: a [batch, channels] matrix times the weights' transpose.
    var isSinglePixel: Bool { isPointwise && groups == 1 && height == 1 && width == 1 }

    /// One input channel per group (depthwise, possibly with a channel multiplier).
    var isDepthwise: Bool { groups > 1 && groupChannels == 1 }

    /// Valid output columns `lo..<hi` for kernel column `kj` (those reading inside the input row), and the
    /// input column offset, so that input column = ow·strideW + offset.
    @inline(__always)
    func columnRange(_ kj: Int) -> (lo: Int, hi: Int, offset: Int) {
        let offset = kj * dilationW - padLeft
        // ow·s + offset ≥ 0  ⇔  ow ≥ ceil(-offset / s); ow·s + offset ≤ W - 1.
        var lo = 0
        if offset < 0 { lo = (-offset + strideW - 1) / strideW }
        var hi = 0
        if width - 1 - offset >= 0 { hi = (width - 1 - offset) / strideW + 1 }
        lo = min(lo, outW)
        hi = min(max(hi, lo), outW)
        return (lo, hi, offset)
    }

    /// Input row read by output row `oh` at kernel row `ki` (may be outside 0..<height).
    @inline(__always)
    func inputRow(_ oh: Int, _ ki: Int) -> Int { oh * strideH - padTop + ki * dilationH }

    /// Output rows per im2col chunk, so that one chunk's columns stay under `budget` floats, but at least enough
    /// for `minColumns` GEMM columns (or the whole plane).
    func rowsPerChunk(budget: Int, minColumns: Int = 0) -> Int {
        let perRow = max(1, columnRows * outW)
        let rows = max(1, min(outH, max(budget / perRow, (minColumns + outW - 1) / max(outW, 1))))
        let chunks = (outH + rows - 1) / rows
        return (outH + chunks - 1) / chunks
    }

    /// Output rows per forward im2col chunk: `rowsPerChunk`, cut further while there are fewer (image, group,
    /// chunk) products than threads, with the `rowInvariant` that every chunk's `sgemm` passes so that the cut
    /// never changes the bits (`GEMM.isPacked` of an uncut chunk; direct products have the same bits cut or not).
    func forwardRows(budget: Int) -> (rows: Int, rowInvariant: Bool) {
        let rows = rowsPerChunk(budget: budget)
        let chunks = (outH + rows - 1) / rows
        let cut = min(outH, chunks * GEMM.piecesPerProduct(batch * groups * chunks))
        return ((outH + cut - 1) / cut, GEMM.isPacked(m: groupOutChannels, n: rows * outW, k: columnRows))
    }

    /// Writes the columns of output rows `rows` for one group: `col[(c·kH + ki)·kW + kj][(oh - rows.lowerBound)·outW + ow]`
    /// = x[c, inputRow(oh, ki), ow·sW + kj·dW - padLeft], or 0 outside the input. `x` points at the group's first channel.
    func im2col(_ x: UnsafePointer<Float>, rows: Range<Int>, into col: UnsafeMutablePointer<Float>) {
        let span = rows.count * outW
        for c in 0..<groupChannels {
            let plane = x + c * inPlane
            for ki in 0..<kernelH {
                for kj in 0..<kernelW {
                    let (lo, hi, offset) = columnRange(kj)
                    var dst = col + ((c * kernelH + ki) * kernelW + kj) * span
                    for oh in rows {
                        let ih = inputRow(oh, ki)
                        if ih < 0 || ih >= height {
                            dst.update(repeating: 0, count: outW)
                        } else {
                            let src = plane + ih * width + offset
                            if lo > 0 { dst.update(repeating: 0, count: lo) }
                            if strideW == 1 {
                                (dst + lo).update(from: src + lo, count: hi - lo)
                            } else {
                                for ow in lo..<hi { dst[ow] = src[ow * strideW] }
                            }
                            if hi < outW { (dst + hi).update(repeating: 0, count: outW - hi) }
                        }
                        dst += outW
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds every column entry back onto the input position it was read from. `col` holds
    /// the column rows of `channels` (all of the group's by default), `ld` floats apart (the rows' width by default);
    /// `dx` points at the group's first channel.
    func col2im(_ col: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>? = nil, ld: Int? = nil,
                into dx: UnsafeMutablePointer<Float>) {
        let span = ld ?? rows.count * outW
        let channels = channels ?? 0..<groupChannels
        for c in channels {
            let plane = dx + c * inPlane
            for ki in 0..<kernelH {
                for kj in 0..<kernelW {
                    let (lo, hi, offset) = columnRange(kj)
                    var src = col + (((c - channels.lowerBound) * kernelH + ki) * kernelW + kj) * span
                    for oh in rows {
                        let ih = inputRow(oh, ki)
                        if ih >= 0 && ih < height {
                            let dst = plane + ih * width + offset
                            if strideW == 1 {
                                Vector.add(src + lo, into: dst + lo, count: hi - lo)
                            } else {
                                for ow in lo..<hi { dst[ow * strideW] += src[ow] }
                            }
                        }
                        src += outW
                    }
                }
            }
        }
    }
}

/// Small vector helpers for kernels (explicit SIMD so they vectorize without relying on alias analysis).
enum Vector {
    /// y[i] = max(0, y[i]) (NaN → 0, as `Relu`).
    @inline(__always)
    static func relu(_ y: UnsafeMutablePointer<Float>, count: Int) {
        let relu = Relu()
        var i = 0
        while i + 8 <= count {
            let raw = UnsafeMutableRawPointer(y + i)
            raw.storeBytes(of: relu.apply(raw.loadUnaligned(as: SIMD8<Float>.self)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { y[i] = relu.apply(y[i]); i += 1 }
    }

    /// y[i] += x[i].
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        var i = 0
        while i + 8 <= count {
            let v = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) + rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            ry.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            y[i] += x[i]
            i += 1
        }
    }

    /// y[i] += a·x[i] (fused).
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        let av = SIMD8<Float>(repeating: a)
        var i = 0
        while i + 8 <= count {
            var v = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            v.addProduct(av, rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            ry.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            y[i] = y[i].addingProduct(a, x[i])
            i += 1
        }
    }

    /// y[i] += b (a bias row).
    @inline(__always)
    static func addScalar(_ b: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
        let ry = UnsafeMutableRawPointer(y)
        let bv = SIMD8<Float>(repeating: b)
        var i = 0
        while i + 8 <= count {
            ry.storeBytes(of: ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) + bv, toByteOffset: i * 4,
                          as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            y[i] += b
            i += 1
        }
    }
}
