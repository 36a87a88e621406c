import Foundation

/// A complex discrete Fourier transform of length `n` down the rows of a split-complex matrix: `n` rows of `width`
/// values (real parts at `re[row·width + j]`, imaginary parts at `im[…]`), each column transformed on its own:
/// `X[r] = Σₜ x[t] · e^(sign·2πi·r·t / n)`, unnormalised. Every operation works on whole rows, so it runs at vector
/// width across the columns however short the transform.
///
/// Mixed-radix decimation in time, smallest prime factor first; a prime factor `p` costs `p²` row operations per
/// group, so a prime length is the plain DFT's cost and every other length less (128: 7 radix-2 levels instead of
/// 128² products). Twiddles are computed in double precision and rounded once. Each output element is one fixed
/// sequence of float operations, whatever the thread count.
struct RowFFT: Sendable {
    let n: Int
    /// Prime factors of `n`, ascending (none for 1).
    let factors: [Int]
    /// cos and sin of 2π·t / n for t < n.
    private let cosTable: [Float], sinTable: [Float]

    init(length n: Int) {
        self.n = n
        var f = [Int](), rest = n, p = 2
        while rest > 1 {
            if p * p > rest { f.append(rest); break }
            if rest % p == 0 { f.append(p); rest /= p } else { p += 1 }
        }
        factors = f
        cosTable = (0..<n).map { Float(cos(2 * Double.pi * Double($0) / Double(n))) }
        sinTable = (0..<n).map { Float(sin(2 * Double.pi * Double($0) / Double(n))) }
    }

    /// Transforms `n` rows read at `(sre, sim)` into `n` rows at `(dre, dim)` (separate buffers), `width` columns.
    func transform(_ sre: UnsafePointer<Float>, _ sim: UnsafePointer<Float>, into dre: UnsafeMutablePointer<Float>,
                   _ dim: UnsafeMutablePointer<Float>, width: Int, sign: Float) {
        let largest = factors.filter { $0 > 2 }.max() ?? 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, 2 * largest * width)) { temp in
            step(sre, sim, stride: 1, count: n, dre, dim, level: 0, width: width, sign: sign, temp: temp.baseAddress!)
        }
    }

    /// The transform of the `count` rows at `s + t·stride` (t < count) into the rows at `d`, contiguous.
    private func step(_ sre: UnsafePointer<Float>, _ sim: UnsafePointer<Float>, stride: Int, count: Int,
                      _ dre: UnsafeMutablePointer<Float>, _ dim: UnsafeMutablePointer<Float>, level: Int, width w: Int,
                      sign: Float, temp: UnsafeMutablePointer<Float>) {
        if count == 1 {
            dre.update(from: sre, count: w)
            dim.update(from: sim, count: w)
            return
        }
        let p = factors[level], m = count / p
        for j in 0..<p {
            step(sre + j * stride * w, sim + j * stride * w, stride: stride * p, count: m,
                 dre + j * m * w, dim + j * m * w, level: level + 1, width: w, sign: sign, temp: temp)
        }
        // Sub-transform j's output q (row j·m + q) feeds outputs q + r·m, r < p: X = Σⱼ W^(j·(q + r·m)) Yⱼ with
        // W = e^(sign·2πi / count), the same rows as the inputs, so each group q is combined in place.
        let unit = n / count
        for q in 0..<m {
            if p == 2 {
                let t = q * unit
                RowFFT.butterfly(dre + q * w, dim + q * w, dre + (q + m) * w, dim + (q + m) * w,
                                 c: cosTable[t], s: sign * sinTable[t], width: w)
                continue
            }
            let tre = temp, tim = temp + p * w
            for r in 0..<p {
                let ore = tre + r * w, oim = tim + r * w
                ore.update(from: dre + q * w, count: w)
                oim.update(from: dim + q * w, count: w)
                for j in 1..<p {
                    let t = (j * (q + r * m)) % count * unit
                    RowFFT.multiplyAdd(dre + (j * m + q) * w, dim + (j * m + q) * w, c: cosTable[t], s: sign * sinTable[t],
                                       into: ore, oim, width: w)
                }
            }
            for r in 0..<p {
                (dre + (q + r * m) * w).update(from: tre + r * w, count: w)
                (dim + (q + r * m) * w).update(from: tim + r * w, count: w)
            }
        }
    }

    /// (a, b) ← (a + (c + is)·b, a − (c + is)·b), row by row.
    @inline(__always)
    private static func butterfly(_ are: UnsafeMutablePointer<Float>, _ aim: UnsafeMutablePointer<Float>,
                                  _ bre: UnsafeMutablePointer<Float>, _ bim: UnsafeMutablePointer<Float>,
                                  c: Float, s: Float, width w: Int) {
        var j = 0
        while j + 8 <= w {
            let xr = load(are + j), xi = load(aim + j), yr = load(bre + j), yi = load(bim + j)
            let tr = yr * c - yi * s, ti = yr * s + yi * c
            store(xr + tr, are + j); store(xi + ti, aim + j)
            store(xr - tr, bre + j); store(xi - ti, bim + j)
            j += 8
        }
        while j < w {
            let tr = bre[j] * c - bim[j] * s, ti = bre[j] * s + bim[j] * c
            let xr = are[j], xi = aim[j]
            are[j] = xr + tr; aim[j] = xi + ti
            bre[j] = xr - tr; bim[j] = xi - ti
            j += 1
        }
    }

    /// (ore, oim) += (c + is)·(yre, yim), row by row.
    @inline(__always)
    private static func multiplyAdd(_ yre: UnsafePointer<Float>, _ yim: UnsafePointer<Float>, c: Float, s: Float,
                                    into ore: UnsafeMutablePointer<Float>, _ oim: UnsafeMutablePointer<Float>, width w: Int) {
        var j = 0
        while j + 8 <= w {
            let yr = load(yre + j), yi = load(yim + j)
            store(load(ore + j) + (yr * c - yi * s), ore + j)
            store(load(oim + j) + (yr * s + yi * c), oim + j)
            j += 8
        }
        while j < w {
            let yr = yre[j], yi = yim[j]
            ore[j] += yr * c - yi * s
            oim[j] += yr * s + yi * c
            j += 1
        }
    }

    @inline(__always) private static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) private static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}
