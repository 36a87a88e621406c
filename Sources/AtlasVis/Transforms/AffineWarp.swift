import Foundation

/// Bilinear resampling of one plane through an affine map about the plane centre, with its exact adjoint.
///
/// Output pixel (x, y) reads the input at `c + A·((x, y) − c) + t`, `c = ((W−1)/2, (H−1)/2)`, mixing the four
/// neighbours with bilinear weights. Out-of-range neighbours are zero (`clampToEdge == false`) or the nearest
/// edge pixel. The adjoint scatters each output gradient back to the same four neighbours with the same weights.
struct AffineWarp {
    let a: Float, b: Float, c: Float, d: Float
    /// Translation `t` in input pixels (crops only).
    var tx: Float = 0, ty: Float = 0
    let height: Int, width: Int
    let clampToEdge: Bool

    /// The warp of a scale or rotate draw, or nil when the draw is the identity (scale 1, angle 0).
    init?(draw: TransformDraw, height: Int, width: Int) {
        switch draw {
        case let .scale(s):
            if s == 1 { return nil }
            a = 1 / s; b = 0; c = 0; d = 1 / s
            clampToEdge = true
        case let .angle(deg):
            if deg == 0 { return nil }
            let r = Double(deg) * Double.pi / 180
            a = Float(cos(r)); b = Float(-sin(r)); c = Float(sin(r)); d = Float(cos(r))
            clampToEdge = false
        case let .crop(side, cx, cy):
            if side == 1 && cx == 0.5 && cy == 0.5 { return nil }
            // Output pixel x samples the box [cx − side/2, cx + side/2]·W at its pixel centres:
            // (cx − side/2)·W + (x + ½)·side − ½ = c + side·(x − c) + (cx − ½)·W.
            a = side; b = 0; c = 0; d = side
            tx = (cx - 0.5) * Float(width); ty = (cy - 0.5) * Float(height)
            clampToEdge = true
        default:
            return nil
        }
        self.height = height
        self.width = width
    }

    /// Calls `body(outputIndex, inputIndex, weight)` for every bilinear tap, in a fixed order.
    @inline(__always) private func taps(_ body: (Int, Int, Float) -> Void) {
        let h = height, w = width
        let cx = Float(w - 1) / 2, cy = Float(h - 1) / 2
        for y in 0..<h {
            let ry = Float(y) - cy
            for x in 0..<w {
                let rx = Float(x) - cx
                let sx = a * rx + b * ry + cx + tx
                let sy = c * rx + d * ry + cy + ty
                let x0f = sx.rounded(.down), y0f = sy.rounded(.down)
                let fx = sx - x0f, fy = sy - y0f
                let x0 = Int(x0f), y0 = Int(y0f)
                let o = y * w + x
                for dy in 0..<2 {
                    let wy = dy == 0 ? 1 - fy : fy
                    if wy == 0 { continue }
                    var yy = y0 + dy
                    if clampToEdge { yy = min(max(yy, 0), h - 1) } else if yy < 0 || yy >= h { continue }
                    for dx in 0..<2 {
                        let wx = dx == 0 ? 1 - fx : fx
                        if wx == 0 { continue }
                        var xx = x0 + dx
                        if clampToEdge { xx = min(max(xx, 0), w - 1) } else if xx < 0 || xx >= w { continue }
                        body(o, yy * w + xx, wy * wx)
                    }
                }
            }
        }
    }

    func forward(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        dst.update(repeating: 0, count: height * width)
        taps { o, i, wt in dst[o] += wt * src[i] }
    }

    func adjoint(_ grad: UnsafePointer<Float>, _ gin: UnsafeMutablePointer<Float>) {
        taps { o, i, wt in gin[i] += wt * grad[o] }
    }
}
