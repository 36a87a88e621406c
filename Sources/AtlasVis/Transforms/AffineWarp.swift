import AtlasCore
import CKernels
import Foundation

/// Bilinear resampling of one plane through an affine map about the plane centre, with its exact adjoint.
///
/// Output pixel (x, y) reads the input at `c + A·((x, y) − c) + t`, `c = ((W−1)/2, (H−1)/2)`, mixing the four
/// neighbours with bilinear weights. Out-of-range neighbours are zero (`clampToEdge == false`) or the nearest
/// edge pixel. The adjoint scatters each output gradient back to the same four neighbours with the same weights.
/// Where the GEMM kernel is AVX-512 (`GEMM.kernel`), both run as C kernels (`ck_warp512_forward`/`_adjoint`, 16 lanes,
/// input rows permuted into lanes or gathered) with the same bits as the Swift loops here.
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

    /// The four bilinear taps of outputs (x ..< x + 8, y), top-left, top-right, bottom-left, bottom-right: input
    /// indices (always inside the plane) and weights, 0 for a tap outside the plane without edge clamping. Lanes past
    /// the row's end are computed as if the row went on (callers drop them).
    @inline(__always) private func taps8(y: Int, x: Int) -> Taps8 {
        let h = height, w = width
        let cx = Float(w - 1) / 2, cy = Float(h - 1) / 2
        let ry = Float(y) - cy
        let rx = (SIMD8<Float>(0, 1, 2, 3, 4, 5, 6, 7) + Float(x)) - cx
        let sx = a * rx + b * ry + cx + tx
        let sy = c * rx + d * ry + cy + ty
        let x0f = sx.rounded(.down), y0f = sy.rounded(.down)
        let fx = sx - x0f, fy = sy - y0f
        // Indices in float (exact below 2²⁴), converted lane by lane where they are used.
        let zero = SIMD8<Float>(repeating: 0)
        let lastX = SIMD8<Float>(repeating: Float(w - 1)), lastY = SIMD8<Float>(repeating: Float(h - 1))
        let x1 = x0f + 1, y1 = y0f + 1
        @inline(__always) func clamp(_ v: SIMD8<Float>, _ last: SIMD8<Float>) -> SIMD8<Float> {
            // By masks: the generic `clamped` is not specialized here.
            var r = v
            r.replace(with: zero, where: v .< zero)
            r.replace(with: last, where: v .> last)
            return r
        }
        let xa = clamp(x0f, lastX), xb = clamp(x1, lastX), ya = clamp(y0f, lastY), yb = clamp(y1, lastY)
        var wxa = 1 - fx, wxb = fx, wya = 1 - fy, wyb = fy
        if !clampToEdge {
            wxa.replace(with: zero, where: xa .!= x0f); wxb.replace(with: zero, where: xb .!= x1)
            wya.replace(with: zero, where: ya .!= y0f); wyb.replace(with: zero, where: yb .!= y1)
        }
        let rowA = ya * Float(w), rowB = yb * Float(w)
        return Taps8(index: (rowA + xa, rowA + xb, rowB + xa, rowB + xb),
                     weight: (wya * wxa, wya * wxb, wyb * wxa, wyb * wxb))
    }

    /// Four taps of eight outputs (`taps8`).
    private struct Taps8 {
        let index: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
        let weight: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

        @inline(__always) func callAsFunction(_ t: Int) -> (SIMD8<Float>, SIMD8<Float>) {
            switch t {
            case 0: return (index.0, weight.0)
            case 1: return (index.1, weight.1)
            case 2: return (index.2, weight.2)
            default: return (index.3, weight.3)
            }
        }
    }

    /// dst[o] = Σ weight · src[input] over o's taps, in tap order, from +0 (a tap of weight 0 adds ±0, which leaves
    /// a sum of finite values as it is: the bits of skipping it), on each of `planes` consecutive planes (one icon's
    /// channels: the C kernel works out each block's taps once for all of them).
    func forward(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, planes: Int = 1) {
        if AffineWarp.usesC {
            withMatrix { ck_warp512_forward(src, dst, planes, height, width, $0, clampToEdge ? 1 : 0) }
            return
        }
        let plane = height * width
        for p in 0..<planes { forwardPlane(src + p * plane, dst + p * plane) }
    }

    private func forwardPlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        for y in 0..<height {
            var x = 0
            while x < width {
                let taps = taps8(y: y, x: x)
                var sum = SIMD8<Float>(repeating: 0)
                for t in 0..<4 {
                    let (index, weight) = taps(t)
                    var v = SIMD8<Float>()
                    for l in 0..<8 { v[l] = src[Int(index[l])] }
                    sum = sum + weight * v
                }
                let o = dst + y * width + x
                if x + 8 <= width {
                    UnsafeMutableRawPointer(o).storeBytes(of: sum, as: SIMD8<Float>.self)
                } else {
                    for l in 0..<(width - x) { o[l] = sum[l] }
                }
                x += 8
            }
        }
    }

    /// gin[input] += weight · grad[o] for every tap, outputs in order, taps in order; a product of 0 is skipped (a
    /// sum from +0 never becomes −0, so adding ±0 would leave it as it is); on each of `planes` consecutive planes.
    func adjoint(_ grad: UnsafePointer<Float>, _ gin: UnsafeMutablePointer<Float>, planes: Int = 1) {
        if AffineWarp.usesC {
            withMatrix { ck_warp512_adjoint(grad, gin, planes, height, width, $0, clampToEdge ? 1 : 0) }
            return
        }
        let plane = height * width
        for p in 0..<planes { adjointPlane(grad + p * plane, gin + p * plane) }
    }

    private func adjointPlane(_ grad: UnsafePointer<Float>, _ gin: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { buffer in
            let lanes = buffer.baseAddress!, raw = UnsafeMutableRawPointer(lanes)
            for y in 0..<height {
                var x = 0
                while x < width {
                    let taps = taps8(y: y, x: x)
                    let g = load8(grad + y * width + x, count: Swift.min(8, width - x))
                    for t in 0..<4 {
                        let (index, weight) = taps(t)
                        raw.storeBytes(of: index, toByteOffset: 32 * t, as: SIMD8<Float>.self)
                        raw.storeBytes(of: weight * g, toByteOffset: 128 + 32 * t, as: SIMD8<Float>.self)
                    }
                    // lanes[t·8 + l]: input of tap t of output x + l; lanes[32 + t·8 + l]: what it adds.
                    for l in 0..<Swift.min(8, width - x) {
                        for t in 0..<4 where lanes[32 + 8 * t + l] != 0 {
                            gin[Int(lanes[8 * t + l])] += lanes[32 + 8 * t + l]
                        }
                    }
                    x += 8
                }
            }
        }
    }

    /// Whether the AVX-512 C kernels run (read per call, so `GEMM.kernel` can be switched in tests).
    static var usesC: Bool { GEMM.kernel == .avx512 }

    /// Runs `body` with (a, b, c, d, tx, ty), the C kernels' `m`.
    private func withMatrix(_ body: (UnsafePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 6) { m in
            m[0] = a; m[1] = b; m[2] = c; m[3] = d; m[4] = tx; m[5] = ty
            body(m.baseAddress!)
        }
    }

    /// count (≤ 8) floats from p, zeros after them.
    @inline(__always) private func load8(_ p: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
        if count == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
        var v = SIMD8<Float>()
        for l in 0..<count { v[l] = p[l] }
        return v
    }
}
