import AtlasCore
import Foundation

/// How `pad` fills the border.
public enum PadMode: Equatable, Sendable {
    /// A constant value (Lucid's standard transforms use 0.5).
    case constant(Float)
    /// Mirror without repeating the edge pixel (TensorFlow/NumPy `reflect`); needs `width < image size`.
    case reflect
}

/// One random image transform of Lucid's `standard_transforms` family. Every transform is linear in the image
/// (constant padding is affine), so its backward is the exact adjoint of the forward map for the same draw.
///
/// Output sizes never depend on the random draw, so icons with different draws still share one batch tensor:
/// - `pad(w)`: H×W → (H+2w)×(W+2w).
/// - `jitter(d)`: Lucid's random crop, H×W → (H−d)×(W−d) at an offset drawn uniformly from 0…d on each axis.
/// - `scale(factors)`: bilinear zoom by a drawn factor `s` about the image centre, keeping H×W: output pixel `p`
///   samples the input at `c + (p − c) / s`, `c = ((W−1)/2, (H−1)/2)`; samples beyond the edge take the edge pixel.
///   (Lucid resizes to `int(s·H)` instead, which only works when the whole batch shares one draw.)
/// - `rotate(degrees)`: bilinear rotation by a drawn angle about the same centre, keeping H×W, zeros outside
///   (as Lucid's `tfa.image.rotate`, but with exact π where Lucid used 3.14).
/// - `crop(lo, hi)`: MACO's random crop (CropNoise.swift), H×W → H×W.
/// - `noise(sd)`: MACO's additive noise (CropNoise.swift), H×W → H×W.
public enum Transform: Equatable, Sendable, CustomStringConvertible {
    case pad(Int, PadMode)
    case jitter(Int)
    case scale([Float])
    case rotate([Float])
    case crop(Float, Float)
    case noise(Float)

    public var description: String {
        func list(_ v: [Float]) -> String { v.map { String($0) }.joined(separator: "/") }
        switch self {
        case let .pad(w, .constant(v)): return "pad:\(w):\(v)"
        case let .pad(w, .reflect): return "pad:\(w):reflect"
        case let .jitter(d): return "jitter:\(d)"
        case let .scale(f): return "scale:\(list(f))"
        case let .rotate(a): return "rotate:\(list(a))"
        case let .crop(lo, hi): return "crop:\(lo)-\(hi)"
        case let .noise(sd): return "noise:\(sd)"
        }
    }

    /// Output height and width for an input of `h × w`.
    public func outputSize(_ h: Int, _ w: Int) throws -> (Int, Int) {
        switch self {
        case let .pad(p, mode):
            if case .reflect = mode, p >= min(h, w) { throw TransformError.tooSmall(transform: description, height: h, width: w) }
            return (h + 2 * p, w + 2 * p)
        case let .jitter(d):
            if d >= min(h, w) { throw TransformError.tooSmall(transform: description, height: h, width: w) }
            return (h - d, w - d)
        case .scale, .rotate, .crop, .noise:
            return (h, w)
        }
    }

    /// This transform's random choice for one icon.
    func draw(_ rng: inout SplitMix64) -> TransformDraw {
        switch self {
        case .pad: return .none
        case let .jitter(d):
            let dy = rng.nextInt(below: d + 1)
            let dx = rng.nextInt(below: d + 1)
            return .offset(dy: dy, dx: dx)
        case let .scale(f): return .scale(f[rng.nextInt(below: f.count)])
        case let .rotate(a): return .angle(a[rng.nextInt(below: a.count)])
        case let .crop(lo, hi): return CropNoise.drawCrop(lo: lo, hi: hi, &rng)
        case .noise: return .noise(seed: rng.next())
        }
    }

    /// Forward on one `h × w` plane (channel `plane` of its icon) into an `oh × ow` plane.
    func forward(_ src: UnsafePointer<Float>, _ h: Int, _ w: Int, _ dst: UnsafeMutablePointer<Float>, _ oh: Int, _ ow: Int,
                 draw: TransformDraw, plane: Int = 0) {
        switch (self, draw) {
        case let (.pad(p, .constant(v)), _):
            // Rows of the value, then each input row between runs of it.
            for y in 0..<oh {
                let row = dst + y * ow, sy = y - p
                guard sy >= 0 && sy < h else { row.update(repeating: v, count: ow); continue }
                row.update(repeating: v, count: p)
                (row + p).update(from: src + sy * w, count: w)
                (row + p + w).update(repeating: v, count: ow - p - w)
            }
        case let (.pad(p, mode), _):
            for y in 0..<oh {
                for x in 0..<ow {
                    let sy = y - p, sx = x - p
                    if sy >= 0 && sy < h && sx >= 0 && sx < w {
                        dst[y * ow + x] = src[sy * w + sx]
                    } else if case let .constant(v) = mode {
                        dst[y * ow + x] = v
                    } else {
                        dst[y * ow + x] = src[reflect(sy, h) * w + reflect(sx, w)]
                    }
                }
            }
        case let (.jitter, .offset(dy, dx)):
            for y in 0..<oh { (dst + y * ow).update(from: src + (y + dy) * w + dx, count: ow) }
        case (.scale, .scale), (.rotate, .angle), (.crop, .crop):
            forwardPlanes(src, dst, h, w, planes: 1, draw: draw)
        case let (.noise(sd), .noise(seed)):
            CropNoise.addNoise(src, dst, count: h * w, sd: sd, seed: seed, plane: plane)
        default:
            preconditionFailure("transform \(self) got draw \(draw)")
        }
    }

    /// Whether `forward`/`backward` on all of an icon's planes at once (`forwardPlanes`, `backwardPlanes`) share
    /// work: the warps, whose taps are the same for every channel.
    var warpsPlanes: Bool {
        switch self {
        case .scale, .rotate, .crop: return true
        default: return false
        }
    }

    /// `forward` of a warp (`warpsPlanes`) on `planes` consecutive `h × w` planes of one icon, each with the bits it
    /// gets alone.
    func forwardPlanes(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int, planes: Int,
                       draw: TransformDraw) {
        if let warp = AffineWarp(draw: draw, height: h, width: w) {
            warp.forward(src, dst, planes: planes)
        } else {
            dst.update(from: src, count: planes * h * w)
        }
    }

    /// `backward` of a warp (`warpsPlanes`) on `planes` consecutive planes of one icon, each with the bits it gets
    /// alone.
    func backwardPlanes(_ grad: UnsafePointer<Float>, _ gin: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int,
                        planes: Int, draw: TransformDraw) {
        if let warp = AffineWarp(draw: draw, height: h, width: w) {
            gin.update(repeating: 0, count: planes * h * w)
            warp.adjoint(grad, gin, planes: planes)
        } else {
            gin.update(from: grad, count: planes * h * w)
        }
    }

    /// Adjoint of `forward`: the gradient w.r.t. the `h × w` input plane from the gradient w.r.t. the output plane.
    func backward(_ grad: UnsafePointer<Float>, _ oh: Int, _ ow: Int, _ gin: UnsafeMutablePointer<Float>, _ h: Int, _ w: Int,
                  draw: TransformDraw) {
        switch (self, draw) {
        case (.scale, .scale), (.rotate, .angle), (.crop, .crop):
            return backwardPlanes(grad, gin, h, w, planes: 1, draw: draw)   // zeroes the plane itself where it adds
        default:
            gin.update(repeating: 0, count: h * w)
        }
        switch (self, draw) {
        case let (.pad(p, .constant), _):
            // Only the input's own pixels pass gradient back (added to 0, as below: −0 becomes +0).
            for sy in 0..<h {
                let gi = gin + sy * w, go = grad + (sy + p) * ow + p
                for sx in 0..<w { gi[sx] += go[sx] }
            }
        case let (.pad(p, mode), _):
            for y in 0..<oh {
                for x in 0..<ow {
                    let sy = y - p, sx = x - p
                    if sy >= 0 && sy < h && sx >= 0 && sx < w {
                        gin[sy * w + sx] += grad[y * ow + x]
                    } else if case .reflect = mode {
                        gin[reflect(sy, h) * w + reflect(sx, w)] += grad[y * ow + x]
                    }
                }
            }
        case let (.jitter, .offset(dy, dx)):
            for y in 0..<oh { (gin + (y + dy) * w + dx).update(from: grad + y * ow, count: ow) }
        case (.noise, .noise):
            gin.update(from: grad, count: h * w)   // additive noise independent of the image
        default:
            preconditionFailure("transform \(self) got draw \(draw)")
        }
    }
}

/// One icon's random choice for one transform.
public enum TransformDraw: Equatable, Sendable {
    case none
    /// Crop offset (rows, columns) of a jitter.
    case offset(dy: Int, dx: Int)
    case scale(Float)
    /// Degrees.
    case angle(Float)
    /// A crop box: side as a fraction of the image side, centre in [0, 1]² (x, y).
    case crop(side: Float, cx: Float, cy: Float)
    /// The seed of an icon's noise at one step (each channel plane draws its own stream from it).
    case noise(seed: UInt64)
}

/// Transform construction or application errors.
public enum TransformError: Error, CustomStringConvertible, Equatable {
    case tooSmall(transform: String, height: Int, width: Int)
    case parse(message: String, position: Int)
    case batchMismatch(images: Int, seeds: Int)

    public var description: String {
        switch self {
        case let .tooSmall(t, h, w): return "transform \(t) does not fit a \(h)×\(w) image"
        case let .parse(m, p): return "transforms: \(m) at character \(p + 1)"
        case let .batchMismatch(n, s): return "transforms: \(n) images but \(s) seeds"
        }
    }
}

/// Reflect index `i` into `0..<n` without repeating the edge (valid for -n < i < 2n - 1).
@inline(__always) func reflect(_ i: Int, _ n: Int) -> Int {
    i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i)
}
