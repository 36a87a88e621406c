/// Winograd convolution for 3×3, stride-1, dilation-1, ungrouped layers: forward, and the input gradient
/// (itself such a convolution of dY with the kernel rotated 180° and its channel axes swapped).
///
/// The output planes are cut into m×m tiles (F(m, 3), see `WinogradKernel`); the tiles of the whole batch are
/// numbered image by image, row by row, and processed in chunks of consecutive tiles whose boundaries depend only
/// on the problem. For one chunk of n tiles:
/// 1. input transform: V[ξ][c][p] = (Bᵀ d B)[ξ] for every input channel c and tile p (t² rows of C×n);
/// 2. t² GEMMs Mξ[M×n] = Uξ[M×C] · Vξ[C×n] with the transformed weights U = G g Gᵀ packed once per layer;
/// 3. output transform: Y = Aᵀ M A per output channel and tile, plus bias and the fused ReLU, cropped to the plane.
/// Scratch per worker is t²·(C + M)·n floats, with n chosen under `budget` (at least 32 tiles).
/// Every output element is computed by one fixed sequence of operations whichever thread runs its chunk, so the
/// results are bit-identical at any thread count.
struct WinogradConv {
    let tile: WinogradTile
    let batch: Int, channels: Int, height: Int, width: Int
    let outChannels: Int, outH: Int, outW: Int
    /// Input row and column under the top-left filter tap of output (0, 0): −padTop and −padLeft (positive crops).
    let top: Int, left: Int

    /// Floats of transformed input and products per worker and chunk (2 MiB).
    static let budget = 1 << 19

    var m: Int { tile.rawValue }
    var t: Int { m + 2 }
    var tilesH: Int { (outH + m - 1) / m }
    var tilesW: Int { (outW + m - 1) / m }
    var tileCount: Int { batch * tilesH * tilesW }

    /// Tiles per chunk: as many as `budget` allows (a multiple of 32, the widest GEMM panel, at least 32, at most
    /// 512), then evened out over the chunks.
    var chunkTiles: Int {
        let perTile = t * t * (channels + outChannels)
        let most = min(512, max(32, WinogradConv.budget / perTile / 32 * 32))
        let chunks = (tileCount + most - 1) / most
        return ((tileCount + chunks - 1) / chunks + 31) / 32 * 32
    }

    /// x: [batch, channels, height, width]; y: [batch, outChannels, outH, outW], every element written.
    /// `packs[ξ]` holds Uξ (outChannels × channels) for the current GEMM kernel.
    func run(x: UnsafePointer<Float>, packs: [PackedA], bias: UnsafePointer<Float>?, relu: Bool,
             y: UnsafeMutablePointer<Float>) {
        switch tile {
        case .f2: run(WinogradF2.self, x: x, packs: packs, bias: bias, relu: relu, y: y)
        case .f4: run(WinogradF4.self, x: x, packs: packs, bias: bias, relu: relu, y: y)
        }
    }

    /// A stretch of consecutive tiles in one tile row: image, tile row, first tile column, count, and the column
    /// of its first tile in the chunk's matrices.
    struct Run { let image: Int, row: Int, column: Int, count: Int, offset: Int }

    /// The runs of tiles `first..<first + count`, in order.
    @inline(__always)
    func forEachRun(_ first: Int, _ count: Int, _ body: (Run) -> Void) {
        let perImage = tilesH * tilesW
        var pos = first
        while pos < first + count {
            let image = pos / perImage, rest = pos % perImage
            let row = rest / tilesW, column = rest % tilesW
            let n = min(tilesW - column, first + count - pos)
            body(Run(image: image, row: row, column: column, count: n, offset: pos - first))
            pos += n
        }
    }

    func run<K: WinogradKernel>(_: K.Type, x: UnsafePointer<Float>, packs: [PackedA], bias: UnsafePointer<Float>?,
                                relu: Bool, y: UnsafeMutablePointer<Float>) {
        let total = tileCount, per = chunkTiles, xis = t * t
        let chunks = (total + per - 1) / per
        GEMM.forEachProduct(chunks) { chunk in
            let first = chunk * per, n = min(total, first + per) - first
            let ld = (n + 7) / 8 * 8
            let vCount = xis * channels * ld, mCount = xis * outChannels * ld
            // 8 floats of slack: the output transform reads whole 8-tile groups past the last tile.
            Scratch.with(.columns, count: vCount + mCount + 8) { buffer in
                let v = buffer, mo = buffer + vCount
                Parallel.forRanges(channels, grain: 16) { range in
                    inputTransform(K.self, x: x, channels: range, first: first, n: n, v: v, ld: ld)
                }
                for xi in 0..<xis {
                    GEMM.sgemm(packedA: packs[xi], n: n, b: v + xi * channels * ld, ldb: ld,
                               c: mo + xi * outChannels * ld, ldc: ld)
                }
                Parallel.forRanges(outChannels, grain: 16) { range in
                    outputTransform(K.self, mo: mo, channels: range, first: first, n: n, ld: ld, bias: bias, relu: relu, y: y)
                }
            }
        }
    }

    /// Step 1 for input channels `channels`: V[ξ][c][p] at `v + (ξ·C + c)·ld + p`.
    func inputTransform<K: WinogradKernel>(_: K.Type, x: UnsafePointer<Float>, channels range: Range<Int>, first: Int,
                                           n: Int, v: UnsafeMutablePointer<Float>, ld: Int) {
        let m = K.m, t = K.t, xiStride = channels * ld
        // Strip rows hold the input columns of up to tilesW tiles in whole 8-tile groups, plus m columns of overlap.
        let groupsMax = (min(tilesW, n) + 7) / 8
        let stride = 8 * m * groupsMax + 8
        Scratch.with(.transform, count: t * stride + t * t * 8) { strip in
            let partial = strip + t * stride
            for c in range {
                forEachRun(first, n) { run in
                    let groups = (run.count + 7) / 8
                    let span = 8 * m * groups + 8
                    let c0 = run.column * m + left
                    for i in 0..<t {
                        let r = run.row * m + top + i
                        let dst = strip + i * stride
                        let lo = min(span, max(0, -c0)), hi = max(lo, min(span, width - c0))
                        if r < 0 || r >= height || hi == lo {
                            dst.update(repeating: 0, count: span)
                            continue
                        }
                        let src = x + (run.image * channels + c) * height * width + r * width + c0
                        if lo > 0 { dst.update(repeating: 0, count: lo) }
                        (dst + lo).update(from: src + lo, count: hi - lo)
                        if hi < span { (dst + hi).update(repeating: 0, count: span - hi) }
                    }
                    K.inputRows(strip, stride: stride, width: span)
                    for g in 0..<groups {
                        let col = run.offset + 8 * g
                        let out = v + c * ld + col
                        if col + 8 <= ld {
                            // Lanes past the run land on the next run's columns, rewritten when that run comes.
                            K.inputTiles(strip + 8 * m * g, stride: stride, out, xiStride: xiStride)
                        } else {
                            K.inputTiles(strip + 8 * m * g, stride: stride, partial, xiStride: 8)
                            for xi in 0..<(t * t) {
                                (out + xi * xiStride).update(from: partial + xi * 8, count: ld - col)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Step 3 for output channels `channels`: y = Aᵀ M A (+ bias, ReLU), cropped to the run and the plane.
    func outputTransform<K: WinogradKernel>(_: K.Type, mo: UnsafePointer<Float>, channels range: Range<Int>, first: Int,
                                            n: Int, ld: Int, bias: UnsafePointer<Float>?, relu: Bool,
                                            y: UnsafeMutablePointer<Float>) {
        let m = K.m, xiStride = outChannels * ld
        for o in range {
            let b = bias.map { $0[o] }
            forEachRun(first, n) { run in
                let plane = y + (run.image * outChannels + o) * outH * outW
                let rows = min(m, outH - run.row * m)
                for g in 0..<(run.count + 7) / 8 {
                    let ow0 = (run.column + 8 * g) * m
                    let cols = min(8 * m, (run.count - 8 * g) * m, outW - ow0)
                    K.outputTiles(mo + o * ld + run.offset + 8 * g, xiStride: xiStride) { i, row in
                        guard i < rows else { return }
                        Winograd.finish(row, bias: b, relu: relu, into: plane + (run.row * m + i) * outW + ow0,
                                        count: cols, width: 8 * m)
                    }
                }
            }
        }
    }
}

/// Which Winograd tile: F(2×2, 3×3) or F(4×4, 3×3).
public enum WinogradTile: Int, Sendable, CaseIterable {
    case f2 = 2
    case f4 = 4
}

enum Winograd {
    /// Writes `count` floats of one output row (`width` computed, a multiple of 8) with the bias and ReLU applied
    /// exactly as `Conv2D.epilogue` and `Relu` do.
    @inline(__always)
    static func finish(_ row: UnsafePointer<Float>, bias: Float?, relu: Bool, into dst: UnsafeMutablePointer<Float>,
                       count: Int, width: Int) {
        let relu8 = Relu()
        var j = 0
        while j < width && j < count {
            var v = load8(row + j)
            if let bias { v += V8(repeating: bias) }
            if relu { v = relu8.apply(v) }
            if j + 8 <= count {
                store8(v, dst + j)
            } else {
                for l in 0..<(count - j) { dst[j + l] = v[l] }
            }
            j += 8
        }
    }

    /// The transformed weights Uξ = (G g Gᵀ)[ξ] of a [M, C, 3, 3] kernel, one packing per ξ for `kernel`, each
    /// M×C (forward), or for the input gradient C×M of the kernel rotated by 180° (`transposed`).
    /// Computed in double and rounded once.
    static func packWeights(tile: WinogradTile, weight: UnsafePointer<Float>, outChannels: Int, channels: Int,
                            transposed: Bool, kernel: GEMMKernel) -> [PackedA] {
        let g = tile == .f2 ? WinogradF2.g : WinogradF4.g
        let t = tile.rawValue + 2
        let rows = transposed ? channels : outChannels, cols = transposed ? outChannels : channels
        let u = UnsafeMutablePointer<Float>.allocate(capacity: t * t * rows * cols)
        defer { u.deallocate() }
        var filter = [Double](repeating: 0, count: 9), gf = [Double](repeating: 0, count: t * 3)
        for o in 0..<outChannels {
            for c in 0..<channels {
                let src = weight + (o * channels + c) * 9
                for k in 0..<9 { filter[k] = Double(transposed ? src[8 - k] : src[k]) }
                for i in 0..<t {
                    for j in 0..<3 { gf[i * 3 + j] = g[i][0] * filter[j] + g[i][1] * filter[3 + j] + g[i][2] * filter[6 + j] }
                }
                let (r, q) = transposed ? (c, o) : (o, c)
                for i in 0..<t {
                    for j in 0..<t {
                        let value = gf[i * 3] * g[j][0] + gf[i * 3 + 1] * g[j][1] + gf[i * 3 + 2] * g[j][2]
                        u[((i * t + j) * rows + r) * cols + q] = Float(value)
                    }
                }
            }
        }
        return (0..<(t * t)).map {
            PackedA(kernel: kernel, transA: false, m: rows, k: cols, a: u + $0 * rows * cols, lda: cols)
        }
    }
}
