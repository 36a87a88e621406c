/// The tile transforms of Winograd's minimal filtering algorithm F(m×m, 3×3) (Lavin & Gray 2015).
///
/// One output tile Y (m×m) of a 3×3 correlation of an input tile d (t×t, t = m + 2) with a filter g is
/// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input channels, the ⊙ becomes t² independent matrix
/// products over channels (one per tile position ξ), which is what makes the method a GEMM method.
///
/// F(2, 3) uses the interpolation points 0, ±1 and ∞:
/// ```
/// Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
///      | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 -1 -1 |
///      | 0 -1  1  0 |        | ½   -½    ½  |
///      | 0  1  0 -1 |        | 0    0    1  |
/// ```
/// F(4, 3) uses 0, ±1, ±2 and ∞ (the classic choice; its Bᵀ and Aᵀ are small integers, so the data
/// transforms are exact up to one rounding per add, and only G, applied once per layer in double, has fractions):
/// ```
/// Bᵀ = | 4  0 -5  0  1  0 |   G = |  1/4    0     0   |   Aᵀ = | 1  1  1  1  1  0 |
///      | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |        | 0  1 -1  2 -2  0 |
///      | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |        | 0  1  1  4  4  0 |
///      | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |        | 0  1 -1  8 -8  1 |
///      | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
///      | 0  4  0 -5  0  1 |       |   0     0     1   |
/// ```
/// The data transforms run on eight tiles at once (one SIMD lane per tile of a tile row): the vertical
/// half (Bᵀ·d) on whole strip rows, the horizontal half (·B) after splitting a row into its m column phases.
protocol WinogradKernel {
    /// Outputs per tile side.
    static var m: Int { get }
    /// The filter transform G (t×3).
    static var g: [[Double]] { get }
    /// In place on every 8-column block of `width` columns: the t rows at `strip` (row stride `stride`) become Bᵀ·rows.
    static func inputRows(_ strip: UnsafeMutablePointer<Float>, stride: Int, width: Int)
    /// Finishes eight tiles whose Bᵀ·d rows start at `rows` (tile j at column m·j; row stride `stride`): writes
    /// (Bᵀ d B)[k][l] for the eight tiles to `v + (k·t + l)·xiStride`.
    static func inputTiles(_ rows: UnsafePointer<Float>, stride: Int, _ v: UnsafeMutablePointer<Float>, xiStride: Int)
    /// Aᵀ·M·A for eight tiles, M[ξ] at `mo + ξ·xiStride`; hands output row i (8·m floats, tile j at m·j) to `store`.
    static func outputTiles(_ mo: UnsafePointer<Float>, xiStride: Int, _ store: (Int, UnsafePointer<Float>) -> Void)
}

extension WinogradKernel {
    static var t: Int { m + 2 }
}

typealias V8 = SIMD8<Float>

@inline(__always) private func load32(_ p: UnsafePointer<Float>) -> SIMD32<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
}

/// Runs `body` on a stack buffer of `count` floats.
@inline(__always) private func withRow(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { body($0.baseAddress!) }
}

/// F(2×2, 3×3): 4×4 input tiles, 16 products.
enum WinogradF2: WinogradKernel {
    static let m = 2
    static let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]

    @inline(__always)
    static func bt(_ d0: V8, _ d1: V8, _ d2: V8, _ d3: V8) -> (V8, V8, V8, V8) {
        (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }

    static func inputRows(_ strip: UnsafeMutablePointer<Float>, stride: Int, width: Int) {
        let p0 = strip, p1 = p0 + stride, p2 = p1 + stride, p3 = p2 + stride
        var u = 0
        while u < width {
            let r = bt(load8(p0 + u), load8(p1 + u), load8(p2 + u), load8(p3 + u))
            store8(r.0, p0 + u); store8(r.1, p1 + u); store8(r.2, p2 + u); store8(r.3, p3 + u)
            u += 8
        }
    }

    static func inputTiles(_ rows: UnsafePointer<Float>, stride: Int, _ v: UnsafeMutablePointer<Float>, xiStride: Int) {
        for k in 0..<4 {
            let row = rows + k * stride
            let a = load16(row), b = load16(row + 2)
            let r = bt(a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
            let out = v + 4 * k * xiStride
            store8(r.0, out); store8(r.1, out + xiStride); store8(r.2, out + 2 * xiStride); store8(r.3, out + 3 * xiStride)
        }
    }

    @inline(__always)
    static func at(_ m0: V8, _ m1: V8, _ m2: V8, _ m3: V8) -> (V8, V8) { (m0 + m1 + m2, m1 - m2 - m3) }

    static func outputTiles(_ mo: UnsafePointer<Float>, xiStride: Int, _ store: (Int, UnsafePointer<Float>) -> Void) {
        // z_k = row k of M·A; then column j of Aᵀ·(M·A) gives (Y[0][j], Y[1][j]).
        @inline(__always) func z(_ k: Int) -> (V8, V8) {
            let p = mo + 4 * k * xiStride
            return at(load8(p), load8(p + xiStride), load8(p + 2 * xiStride), load8(p + 3 * xiStride))
        }
        let z0 = z(0), z1 = z(1), z2 = z(2), z3 = z(3)
        let c0 = at(z0.0, z1.0, z2.0, z3.0), c1 = at(z0.1, z1.1, z2.1, z3.1)
        withRow(16) { out in
            var row = SIMD16<Float>()
            row.evenHalf = c0.0; row.oddHalf = c1.0
            UnsafeMutableRawPointer(out).storeBytes(of: row, as: SIMD16<Float>.self)
            store(0, out)
            row.evenHalf = c0.1; row.oddHalf = c1.1
            UnsafeMutableRawPointer(out).storeBytes(of: row, as: SIMD16<Float>.self)
            store(1, out)
        }
    }
}

/// F(4×4, 3×3): 6×6 input tiles, 36 products.
enum WinogradF4: WinogradKernel {
    static let m = 4
    static let g: [[Double]] = [
        [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
    ]

    @inline(__always)
    static func bt(_ d0: V8, _ d1: V8, _ d2: V8, _ d3: V8, _ d4: V8, _ d5: V8) -> (V8, V8, V8, V8, V8, V8) {
        let s12 = d1 + d2, d12 = d1 - d2, s34 = d3 + d4, d43 = d4 - d3
        let a = d4 - d2, b = d3 - d1
        return (d4.addingProduct(4, d0).addingProduct(-5, d2),
                s34.addingProduct(-4, s12),
                d43.addingProduct(4, d12),
                a.addingProduct(2, b),
                a.addingProduct(-2, b),
                d5.addingProduct(4, d1).addingProduct(-5, d3))
    }

    static func inputRows(_ strip: UnsafeMutablePointer<Float>, stride: Int, width: Int) {
        let p0 = strip, p1 = p0 + stride, p2 = p1 + stride, p3 = p2 + stride, p4 = p3 + stride, p5 = p4 + stride
        var u = 0
        while u < width {
            let r = bt(load8(p0 + u), load8(p1 + u), load8(p2 + u), load8(p3 + u), load8(p4 + u), load8(p5 + u))
            store8(r.0, p0 + u); store8(r.1, p1 + u); store8(r.2, p2 + u)
            store8(r.3, p3 + u); store8(r.4, p4 + u); store8(r.5, p5 + u)
            u += 8
        }
    }

    static func inputTiles(_ rows: UnsafePointer<Float>, stride: Int, _ v: UnsafeMutablePointer<Float>, xiStride: Int) {
        for k in 0..<6 {
            let row = rows + k * stride
            let a = load32(row), b = load32(row + 4)
            let ae = a.evenHalf, ao = a.oddHalf
            let r = bt(ae.evenHalf, ao.evenHalf, ae.oddHalf, ao.oddHalf, b.evenHalf.evenHalf, b.oddHalf.evenHalf)
            let out = v + 6 * k * xiStride
            store8(r.0, out); store8(r.1, out + xiStride); store8(r.2, out + 2 * xiStride)
            store8(r.3, out + 3 * xiStride); store8(r.4, out + 4 * xiStride); store8(r.5, out + 5 * xiStride)
        }
    }

    @inline(__always)
    static func at(_ m0: V8, _ m1: V8, _ m2: V8, _ m3: V8, _ m4: V8, _ m5: V8) -> (V8, V8, V8, V8) {
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4
        return (m0 + a + c, b.addingProduct(2, d), a.addingProduct(4, c), b.addingProduct(8, d) + m5)
    }

    static func outputTiles(_ mo: UnsafePointer<Float>, xiStride: Int, _ store: (Int, UnsafePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: V8.self, capacity: 24) { zb in
            let z = zb.baseAddress!
            for k in 0..<6 {
                let p = mo + 6 * k * xiStride
                let r = at(load8(p), load8(p + xiStride), load8(p + 2 * xiStride), load8(p + 3 * xiStride),
                           load8(p + 4 * xiStride), load8(p + 5 * xiStride))
                z[4 * k] = r.0; z[4 * k + 1] = r.1; z[4 * k + 2] = r.2; z[4 * k + 3] = r.3
            }
            let c0 = at(z[0], z[4], z[8], z[12], z[16], z[20]), c1 = at(z[1], z[5], z[9], z[13], z[17], z[21])
            let c2 = at(z[2], z[6], z[10], z[14], z[18], z[22]), c3 = at(z[3], z[7], z[11], z[15], z[19], z[23])
            withRow(32) { out in
                func emit(_ i: Int, _ y0: V8, _ y1: V8, _ y2: V8, _ y3: V8) {
                    var even = SIMD16<Float>(), odd = SIMD16<Float>()
                    even.evenHalf = y0; even.oddHalf = y2
                    odd.evenHalf = y1; odd.oddHalf = y3
                    var row = SIMD32<Float>()
                    row.evenHalf = even; row.oddHalf = odd
                    UnsafeMutableRawPointer(out).storeBytes(of: row, as: SIMD32<Float>.self)
                    store(i, out)
                }
                emit(0, c0.0, c1.0, c2.0, c3.0)
                emit(1, c0.1, c1.1, c2.1, c3.1)
                emit(2, c0.2, c1.2, c2.2, c3.2)
                emit(3, c0.3, c1.3, c2.3, c3.3)
            }
        }
    }
}
