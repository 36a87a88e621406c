import CKernels

/// Depthwise convolution (one input channel per group, `multiplier` output channels each), forward and input
/// gradient, by the C kernels `ck_dw_forward` / `ck_dw_backward` (CKernels/depthwise.c) and their 16-lane AVX-512
/// twins `ck_dw512_*` (depthwise512.c; one body for both, depthwise_lanes.h).
///
/// The kernels vectorize across 8 channels, or 16 where the AVX-512 kernels run (`ck_dw512_*`, the same FMAs per
/// channel, so the same bits): one interleaved, zero-padded strip of that many planes in scratch, so any plane
/// size, kernel, stride, dilation and padding runs at full vector width, down to 1×1 planes. A strip's outputs (and,
/// at stride 1, its input gradient) are computed as one run of pixels in blocks of 8 that may span rows, so planes
/// narrower than 8 (EfficientNet's 7×7) still keep 8 sums in flight. Work items are
/// (image, group of 8 or 16 channels, strip of rows); strips and the items per task depend only on the layer's shape,
/// every output element is written by one item with one fixed sequence of FMAs, and the input gradient gathers
/// (no scatter into dx): the bits do not depend on the thread count or on the other images of the batch.
enum Depthwise {
    /// Output pixels per strip: the strip's interleaved input stays in L2.
    static let stripPixels = 1024
    /// Multiply-adds (vectors) per parallel task, so that small planes share a task.
    static let taskWork = 1 << 14

    /// Channels per vector: 16 where the AVX-512 kernels run, else 8.
    static var lanes: Int { RowKernels.isAvailable ? 16 : 8 }

    /// Rows per strip of a plane `width` wide and `height` high (evened out over the strips), and the strip count.
    static func strips(height: Int, width: Int) -> (rows: Int, count: Int) {
        let most = max(1, min(height, stripPixels / max(1, width)))
        let count = (height + most - 1) / most
        return ((height + count - 1) / count, count)
    }

    static func shape(_ g: ConvGeometry) -> ck_dw_shape {
        ck_dw_shape(height: g.height, width: g.width, outH: g.outH, outW: g.outW, kernelH: g.kernelH,
                    kernelW: g.kernelW, strideH: g.strideH, strideW: g.strideW, padTop: g.padTop,
                    padLeft: g.padLeft, dilationH: g.dilationH, dilationW: g.dilationW)
    }

    /// Runs `body(image, firstChannel, lanes, rows)` for every (image, group of `vector` of `channels`, strip of
    /// `height` rows `width` wide), grouped into tasks of about `taskWork` vector multiply-adds (`work` per pixel).
    static func forEachItem(batch: Int, channels: Int, lanes vector: Int, height: Int, width: Int, work: Int,
                            _ body: (Int, Int, Int, Range<Int>) -> Void) {
        let (rows, stripCount) = strips(height: height, width: width)
        let groups = (channels + vector - 1) / vector
        let grain = max(1, taskWork / max(1, rows * width * work))
        Parallel.forRanges(batch * groups * stripCount, grain: grain) { range in
            for item in range {
                let strip = item % stripCount, group = (item / stripCount) % groups, n = item / (stripCount * groups)
                let c0 = vector * group
                body(n, c0, min(vector, channels - c0), strip * rows ..< min(height, (strip + 1) * rows))
            }
        }
    }

    /// Forward on all planes: y[n, m] = bias[m] + Σ_{ki,kj} w[m, ki, kj] · x[n, m / multiplier] shifted, then
    /// `activation` (Relu inside the C kernel, any other on each item's rows while they are in cache; bit-identical
    /// to a separate step either way).
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, activation: (any ElementwiseLayer)?, y: UnsafeMutablePointer<Float>) {
        let relu = activation is Relu
        let other = relu ? nil : activation
        let s = shape(g)
        let multiplier = g.outChannels / g.channels
        let vector = lanes, wide = vector == 16, stripRows = strips(height: g.outH, width: g.outW).rows
        let scratch = withUnsafePointer(to: s) {
            Int(wide ? ck_dw512_forward_scratch($0, stripRows) : ck_dw_forward_scratch($0, stripRows))
        }
        forEachItem(batch: g.batch, channels: g.outChannels, lanes: vector, height: g.outH, width: g.outW,
                    work: g.kernelH * g.kernelW) { n, m0, lanes, rows in
            Scratch.with(.columns, count: scratch) { buffer in
                let xn = x + n * g.channels * g.inPlane, yn = y + n * g.outChannels * g.outPlane
                withUnsafePointer(to: s) {
                    if wide {
                        ck_dw512_forward($0, xn, weight, bias, m0, lanes, multiplier, relu ? 1 : 0, yn, rows.lowerBound,
                                         rows.upperBound, buffer)
                    } else {
                        ck_dw_forward($0, xn, weight, bias, m0, lanes, multiplier, relu ? 1 : 0, yn, rows.lowerBound,
                                      rows.upperBound, buffer)
                    }
                }
            }
            if let other {
                // The item's rows of each of its channels are one contiguous run.
                for m in m0 ..< m0 + lanes {
                    other.applyInPlace(y + (n * g.outChannels + m) * g.outPlane + rows.lowerBound * g.outW,
                                       count: rows.count * g.outW)
                }
            }
        }
    }

    /// Input gradient: dx[n, c] = Σ over the `multiplier` output channels of c of the transposed correlation,
    /// every dx element written (no zeroing needed).
    static func backward(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>) {
        let s = shape(g)
        let multiplier = g.outChannels / g.channels
        let vector = lanes, wide = vector == 16, stripRows = strips(height: g.height, width: g.width).rows
        let scratch = withUnsafePointer(to: s) {
            Int(wide ? ck_dw512_backward_scratch($0, multiplier, stripRows)
                     : ck_dw_backward_scratch($0, multiplier, stripRows))
        }
        // Each dx pixel gathers about kH·kW·multiplier / (sH·sW) taps.
        let work = max(1, g.kernelH * g.kernelW * multiplier / (g.strideH * g.strideW))
        forEachItem(batch: g.batch, channels: g.channels, lanes: vector, height: g.height, width: g.width,
                    work: work) { n, c0, lanes, rows in
            Scratch.with(.columns, count: scratch) { buffer in
                let dyn = dy + n * g.outChannels * g.outPlane, dxn = dx + n * g.channels * g.inPlane
                withUnsafePointer(to: s) {
                    if wide {
                        ck_dw512_backward($0, dyn, weight, c0, lanes, multiplier, dxn, rows.lowerBound, rows.upperBound,
                                          buffer)
                    } else {
                        ck_dw_backward($0, dyn, weight, c0, lanes, multiplier, dxn, rows.lowerBound, rows.upperBound,
                                       buffer)
                    }
                }
            }
        }
    }
}
