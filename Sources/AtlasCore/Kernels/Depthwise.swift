/// Direct kernels for depthwise convolution (one input channel per group, `multiplier` output channels each):
/// no im2col, each output plane is a sum of shifted, scaled input rows.
enum Depthwise {
    /// Forward on all planes: y[n, m] = bias[m] + Σ_{ki,kj} w[m, ki, kj] · x[n, m / multiplier] shifted.
    static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let multiplier = g.outChannels / g.channels
        let taps = g.kernelH * g.kernelW
        let planes = g.batch * g.outChannels
        let grain = max(1, (1 << 16) / max(1, g.outPlane * taps))
        Parallel.forRanges(planes, grain: grain) { range in
            for plane in range {
                let n = plane / g.outChannels, m = plane % g.outChannels
                let src = x + (n * g.channels + m / multiplier) * g.inPlane
                let dst = y + plane * g.outPlane
                dst.update(repeating: bias?[m] ?? 0, count: g.outPlane)
                forwardPlane(g, src, weight + m * taps, dst)
            }
        }
    }

    @inline(__always)
    static func forwardPlane(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                             _ y: UnsafeMutablePointer<Float>) {
        for oh in 0..<g.outH {
            let yrow = y + oh * g.outW
            for ki in 0..<g.kernelH {
                let ih = g.inputRow(oh, ki)
                if ih < 0 || ih >= g.height { continue }
                let xrow = x + ih * g.width
                for kj in 0..<g.kernelW {
                    let (lo, hi, offset) = g.columnRange(kj)
                    let wv = w[ki * g.kernelW + kj]
                    if g.strideW == 1 {
                        Vector.axpy(wv, xrow + lo + offset, into: yrow + lo, count: hi - lo)
                    } else {
                        for ow in lo..<hi { yrow[ow] = yrow[ow].addingProduct(wv, xrow[ow * g.strideW + offset]) }
                    }
                }
            }
        }
    }

    /// Input gradient: dx[n, c] = Σ over the `multiplier` output channels of c of the transposed correlation.
    static func backward(_ g: ConvGeometry, gradOutput dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>) {
        let multiplier = g.outChannels / g.channels
        let taps = g.kernelH * g.kernelW
        let planes = g.batch * g.channels
        let grain = max(1, (1 << 16) / max(1, g.outPlane * taps * multiplier))
        Parallel.forRanges(planes, grain: grain) { range in
            for plane in range {
                let n = plane / g.channels, c = plane % g.channels
                let dst = dx + plane * g.inPlane
                dst.update(repeating: 0, count: g.inPlane)
                for j in 0..<multiplier {
                    let m = c * multiplier + j
                    backwardPlane(g, dy + (n * g.outChannels + m) * g.outPlane, weight + m * taps, dst)
                }
            }
        }
    }

    @inline(__always)
    static func backwardPlane(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              _ dx: UnsafeMutablePointer<Float>) {
        for oh in 0..<g.outH {
            let dyrow = dy + oh * g.outW
            for ki in 0..<g.kernelH {
                let ih = g.inputRow(oh, ki)
                if ih < 0 || ih >= g.height { continue }
                let dxrow = dx + ih * g.width
                for kj in 0..<g.kernelW {
                    let (lo, hi, offset) = g.columnRange(kj)
                    let wv = w[ki * g.kernelW + kj]
                    if g.strideW == 1 {
                        Vector.axpy(wv, dyrow + lo, into: dxrow + lo + offset, count: hi - lo)
                    } else {
                        for ow in lo..<hi {
                            let i = ow * g.strideW + offset
                            dxrow[i] = dxrow[i].addingProduct(wv, dyrow[ow])
                        }
                    }
                }
            }
        }
    }
}
