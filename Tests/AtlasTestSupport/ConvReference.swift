import AtlasCore

/// The 7-loop definition of a convolution and of its input gradient, accumulated in double precision.
public enum ConvReference {
    /// Calls `body(weight index, input index, output index)` for every multiply-add of `conv` on `shape`
    /// (taps reading the zero padding skipped).
    static func forEachTap(_ conv: Conv2D, _ shape: [Int], _ body: (_ w: Int, _ x: Int, _ y: Int) -> Void) throws {
        let out = try conv.outputShape([shape])
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (m, oh, ow) = (out[1], out[2], out[3])
        let cg = c / conv.groups, mg = m / conv.groups
        let (kh, kw) = (conv.weight.shape[2], conv.weight.shape[3])
        for b in 0..<n {
            for o in 0..<m {
                let group = o / mg
                for i in 0..<oh {
                    for j in 0..<ow {
                        for ci in 0..<cg {
                            for ki in 0..<kh {
                                let ih = i * conv.stride[0] - conv.pads[0] + ki * conv.dilation[0]
                                if ih < 0 || ih >= h { continue }
                                for kj in 0..<kw {
                                    let iw = j * conv.stride[1] - conv.pads[1] + kj * conv.dilation[1]
                                    if iw < 0 || iw >= w { continue }
                                    body(((o * cg + ci) * kh + ki) * kw + kj, ((b * c + group * cg + ci) * h + ih) * w + iw,
                                         ((b * m + o) * oh + i) * ow + j)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = conv(x) + bias.
    public static func forward(_ conv: Conv2D, _ x: Tensor) throws -> Tensor {
        let out = try conv.outputShape([x.shape])
        var acc = [Double](repeating: 0, count: out.reduce(1, *))
        let plane = out[2] * out[3]
        if let bias = conv.bias {
            for k in acc.indices { acc[k] = Double(bias.data[(k / plane) % out[1]]) }
        }
        let wp = conv.weight.data, xp = x.data
        try forEachTap(conv, x.shape) { w, xi, y in acc[y] += Double(wp[w]) * Double(xp[xi]) }
        return Tensor(shape: out, values: acc.map { Float($0) })
    }

    /// dx = convᵀ(dy): the gradient of Σ conv(x)·dy with respect to x.
    public static func inputGradient(_ conv: Conv2D, inputShape: [Int], _ dy: Tensor) throws -> Tensor {
        var acc = [Double](repeating: 0, count: inputShape.reduce(1, *))
        let wp = conv.weight.data, dp = dy.data
        try forEachTap(conv, inputShape) { w, x, y in acc[x] += Double(wp[w]) * Double(dp[y]) }
        return Tensor(shape: inputShape, values: acc.map { Float($0) })
    }
}
