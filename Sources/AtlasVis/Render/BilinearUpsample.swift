import AtlasCore

/// Bilinear resize of `[N, C, H, W]` tensors with `align_corners = true` (PyTorch's
/// `nn.Upsample(mode: "bilinear", align_corners: True)`, what Lucent applies before the model when icons are
/// smaller than 224 px): output index `o` samples the input at `o · (in − 1) / (out − 1)`.
///
/// Linear in the input, so `backward` is the exact adjoint of `forward`. Both run separably (rows, then
/// columns) per image plane with a fixed summation order, so results do not depend on the thread count.
public struct BilinearUpsample: Sendable, Equatable {
    public let inputHeight: Int
    public let inputWidth: Int
    public let outputHeight: Int
    public let outputWidth: Int

    public init(from input: (height: Int, width: Int), to output: (height: Int, width: Int)) {
        inputHeight = input.height
        inputWidth = input.width
        outputHeight = output.height
        outputWidth = output.width
    }

    /// Source taps along one axis: output `o` reads `lo[o]` with weight `1 − frac[o]` and `lo[o] + 1` with `frac[o]`.
    static func taps(input: Int, output: Int) -> (lo: [Int], frac: [Float]) {
        var lo = [Int](repeating: 0, count: output), frac = [Float](repeating: 0, count: output)
        let scale = output > 1 ? Double(input - 1) / Double(output - 1) : 0
        for o in 0..<output {
            let x = Double(o) * scale
            var i = Int(x.rounded(.down))
            var f = x - Double(i)
            if i >= input - 1 { i = max(input - 1, 0); f = 0 }
            lo[o] = i
            frac[o] = Float(f)
        }
        return (lo, frac)
    }

    /// `[N, C, H, W]` → `[N, C, outputHeight, outputWidth]`.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[2] == inputHeight && x.shape[3] == inputWidth, "BilinearUpsample: input \(x.shape)")
        let planes = x.shape[0] * x.shape[1]
        let h = inputHeight, w = inputWidth, oh = outputHeight, ow = outputWidth
        let out = Tensor(zeros: [x.shape[0], x.shape[1], oh, ow])
        let (xl, xf) = BilinearUpsample.taps(input: w, output: ow)
        let (yl, yf) = BilinearUpsample.taps(input: h, output: oh)
        Parallel.forEach(planes) { p in
            let src = x.data + p * h * w, dst = out.data + p * oh * ow
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)
            defer { rows.deallocate() }
            for y in 0..<h {
                let s = src + y * w, r = rows + y * ow
                for o in 0..<ow {
                    let i = xl[o], f = xf[o]
                    r[o] = f == 0 ? s[i] : s[i] * (1 - f) + s[i + 1] * f
                }
            }
            for o in 0..<oh {
                let i = yl[o], f = yf[o]
                let a = rows + i * ow, d = dst + o * ow
                if f == 0 {
                    d.update(from: a, count: ow)
                } else {
                    let b = a + ow, g = 1 - f
                    for k in 0..<ow { d[k] = a[k] * g + b[k] * f }
                }
            }
        }
        return out
    }

    /// Gradient w.r.t. the input from the gradient w.r.t. `forward`'s output (the adjoint map).
    public func backward(_ grad: Tensor) -> Tensor {
        precondition(grad.rank == 4 && grad.shape[2] == outputHeight && grad.shape[3] == outputWidth,
                     "BilinearUpsample: gradient \(grad.shape)")
        let planes = grad.shape[0] * grad.shape[1]
        let h = inputHeight, w = inputWidth, oh = outputHeight, ow = outputWidth
        let out = Tensor(zeros: [grad.shape[0], grad.shape[1], h, w])
        let (xl, xf) = BilinearUpsample.taps(input: w, output: ow)
        let (yl, yf) = BilinearUpsample.taps(input: h, output: oh)
        Parallel.forEach(planes) { p in
            let src = grad.data + p * oh * ow, dst = out.data + p * h * w
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)
            defer { rows.deallocate() }
            rows.update(repeating: 0, count: h * ow)
            for o in 0..<oh {
                let i = yl[o], f = yf[o]
                let g = src + o * ow, a = rows + i * ow
                if f == 0 {
                    for k in 0..<ow { a[k] += g[k] }
                } else {
                    let b = a + ow, c = 1 - f
                    for k in 0..<ow { a[k] += g[k] * c; b[k] += g[k] * f }
                }
            }
            for y in 0..<h {
                let r = rows + y * ow, d = dst + y * w
                for o in 0..<ow {
                    let i = xl[o], f = xf[o]
                    if f == 0 { d[i] += r[o] } else { d[i] += r[o] * (1 - f); d[i + 1] += r[o] * f }
                }
            }
        }
        return out
    }
}
