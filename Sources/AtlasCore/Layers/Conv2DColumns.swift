/// The forward pass of GEMM convolutions without a stored column matrix (`ConvGeometry.packPanel`).
extension Conv2D {
    /// Columns of one product (a multiple of the kernel's NR): wide enough to amortize the packed weights, narrow
    /// enough that a packed depth block of B (384 × 512 floats) stays in L2.
    static let productColumns = 512

    /// y = act(W ⊛ x + b) for a convolution served by GEMM: per group, the batch's output positions, image-major
    /// (column j = image·outPlane + pixel), are cut into ranges of about `productColumns` and each range is one
    /// product of the packed weights and the im2col columns, packed straight from x. A range inside one image is
    /// written in place; one across images goes through a scratch C, scattered to the images in the epilogue. Small
    /// planes (7², 14²) thus fill whole 32-column panels, which per-image products cannot.
    ///
    /// Every product takes the packed path, whose element (i, j) depends only on row i of the weights and column j:
    /// an image gets the same bits alone or in any batch, however the ranges fall and at any thread count.
    func forwardColumns(_ g: ConvGeometry, x: UnsafePointer<Float>, bias b: UnsafePointer<Float>?,
                        residual res: UnsafePointer<Float>?, activation: (any ElementwiseLayer)?, packs: [PackedA],
                        y out: UnsafeMutablePointer<Float>) {
        let mg = g.groupOutChannels, plane = g.outPlane
        let ranges = Conv2D.columnRanges(plane: plane, batch: g.batch, groups: g.groups, nr: packs[0].kernel.nr)
        GEMM.forEachProduct(g.groups * ranges.count) { task in
            let group = task / ranges.count, (j0, cols) = ranges.range(task % ranges.count)
            let source: GEMM.PanelSource = { p0, kcb, j, c, nr, panel in
                g.packPanel(x, group: group, p0: p0, kcb: kcb, j0: j0 + j, cols: c, nr: nr, into: panel)
            }
            let bias = b.map { $0 + group * mg }
            let n0 = j0 / plane
            if (j0 + cols - 1) / plane == n0 {
                let dst = out + (n0 * g.outChannels + group * mg) * plane + (j0 - n0 * plane)
                GEMM.sgemm(packedA: packs[group], n: cols, source: source, c: dst, ldc: plane,
                           epilogue: Conv2D.blockEpilogue(bias, residual: res, activation: activation, dst, output: out,
                                                          ldc: plane))
                return
            }
            Scratch.with(.layer, count: mg * cols) { product in
                GEMM.sgemm(packedA: packs[group], n: cols, source: source, c: product, ldc: cols) { rows, cs in
                    Conv2D.epilogue(bias.map { $0 + rows.lowerBound }, activation: res == nil ? activation : nil,
                                    product + rows.lowerBound * cols + cs.lowerBound, rows: rows.count,
                                    cols: cs.count, ldc: cols)
                    // Scatter the block's rows to their images (adding the residual there).
                    var j = cs.lowerBound
                    while j < cs.upperBound {
                        let n = (j0 + j) / plane, pos = j0 + j - n * plane
                        let len = min(plane - pos, cs.upperBound - j)
                        let dst = out + (n * g.outChannels + group * mg + rows.lowerBound) * plane + pos
                        for r in 0..<rows.count {
                            (dst + r * plane).update(from: product + (rows.lowerBound + r) * cols + j, count: len)
                        }
                        if res != nil {
                            Conv2D.epilogue(nil, residual: res.map { $0 + (dst - out) }, activation: activation, dst,
                                            rows: rows.count, cols: len, ldc: plane)
                        }
                        j += len
                    }
                }
            }
        }
    }

    /// The column ranges of `forwardColumns` for one group: planes of at least `productColumns / 2` are cut inside
    /// each image into ranges of at most `2 · productColumns` (written in place), smaller ones are merged across
    /// images; either way into enough ranges for the threads where that leaves each at least four panels. Ranges
    /// are multiples of `nr` wide, but for the last of an image (or of the batch).
    static func columnRanges(plane: Int, batch: Int, groups: Int, nr: Int) -> (count: Int, range: (Int) -> (Int, Int)) {
        let threads = Parallel.isInsideWorker ? 1 : Parallel.threadCount
        if plane >= productColumns / 2 {
            var chunks = (plane + 2 * productColumns - 1) / (2 * productColumns)
            let products = batch * groups * chunks
            if products < threads { chunks = min((plane + 4 * nr - 1) / (4 * nr), chunks * GEMM.piecesPerProduct(products)) }
            let width = ((plane + chunks - 1) / chunks + nr - 1) / nr * nr
            chunks = (plane + width - 1) / width
            return (batch * chunks, { t in
                let n = t / chunks, j0 = (t % chunks) * width
                return (n * plane + j0, min(plane, j0 + width) - j0)
            })
        }
        let total = batch * plane
        var count = (total + productColumns - 1) / productColumns
        // Whole rounds of tasks for the threads, unless the ranges would get thinner than four panels.
        let rounded = (count * groups + threads - 1) / threads * threads
        if total * groups >= rounded * 4 * nr { count = max(count, rounded / groups) }
        let width = ((total + count - 1) / count + nr - 1) / nr * nr
        count = (total + width - 1) / width
        return (count, { t in (t * width, min(total, (t + 1) * width) - t * width) })
    }

    /// The input gradient of a GEMM convolution with small output planes: dcol = Wᵀ·dY for several whole images at
    /// a time (the columns of dY packed straight from it, as a pointwise convolution's), then col2im of each image's
    /// plane. Images of different products never share an input, so products run in parallel; one image's plane
    /// is always one product's, so its bits do not depend on the batch or the thread count. `dx` must be zeros.
    func gradientColumns(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>, packs: [PackedA],
                         dx: UnsafeMutablePointer<Float>) {
        let plane = g.outPlane, kdim = g.columnRows
        // dY as the input of a pointwise convolution from M channels: its packed panels are dY's columns.
        let t = g.transposedPointwise
        // Whole images, about `productColumns` columns and at most 2²⁰ floats of dcol a product.
        let images = max(1, min(g.batch, Conv2D.productColumns / plane, (1 << 20) / max(1, kdim * plane)))
        let ranges = (g.batch + images - 1) / images
        GEMM.forEachProduct(g.groups * ranges) { task in
            let group = task / ranges, n0 = (task % ranges) * images, count = min(g.batch, n0 + images) - n0
            let cols = count * plane, j0 = n0 * plane
            Scratch.with(.columns, count: kdim * cols) { col in
                GEMM.sgemm(packedA: packs[group], n: cols, source: { p0, kcb, j, c, nr, panel in
                    t.packPanel(dy, group: group, p0: p0, kcb: kcb, j0: j0 + j, cols: c, nr: nr, into: panel)
                }, c: col, ldc: cols)
                for i in 0..<count {
                    g.col2im(col + i * plane, rows: 0..<g.outH, ld: cols,
                             into: dx + ((n0 + i) * g.channels + group * g.groupChannels) * g.inPlane)
                }
            }
        }
    }
}
