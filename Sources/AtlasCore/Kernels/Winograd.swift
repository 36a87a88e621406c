import CKernels

/// Winograd convolution for 3×3, stride-1, dilation-1, ungrouped layers: forward, and the input gradient
/// (itself such a convolution of dY with the kernel rotated 180° and its channel axes swapped).
///
/// The output planes are cut into m×m tiles (F(m, 3), see WinogradTransforms.swift); the tiles of the whole batch are
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

    /// x: [batch, channels, height, width]; y: [batch, outChannels, outH, outW], every element written.
    /// `packs[ξ]` holds Uξ (outChannels × channels) for one GEMM kernel.
    func run(x: UnsafePointer<Float>, packs: [PackedA], bias: UnsafePointer<Float>?, relu: Bool,
             y: UnsafeMutablePointer<Float>) {
        let total = tileCount, per = chunkTiles, xis = t * t
        let chunks = (total + per - 1) / per
        GEMM.forEachProduct(chunks) { chunk in
            let first = chunk * per, n = min(total, first + per) - first
            let ld = (n + 7) / 8 * 8
            let vStride = WinogradConv.skewed(channels * ld), mStride = WinogradConv.skewed(outChannels * ld)
            // 8 floats of slack: the output transform reads whole 8-tile groups past the last tile.
            Scratch.with(.columns, count: xis * (vStride + mStride) + 8) { buffer in
                let v = buffer, mo = buffer + xis * vStride
                Parallel.forRanges(channels, grain: 16) { range in
                    inputTransform(x: x, channels: range, first: first, n: n, v: v, ld: ld, xiStride: vStride)
                }
                // One GEMM per task (serial inside a worker): with fewer chunks than threads, t² parallel tasks
                // instead of t² small parallel GEMMs (same bits either way).
                Parallel.forEach(xis) { xi in
                    GEMM.sgemm(packedA: packs[xi], n: n, b: v + xi * vStride, ldb: ld, c: mo + xi * mStride, ldc: ld)
                }
                Parallel.forRanges(outChannels, grain: 16) { range in
                    outputTransform(mo: mo, channels: range, first: first, n: n, ld: ld, xiStride: mStride, bias: bias,
                                    relu: relu, y: y)
                }
            }
        }
    }

    /// The distance between the matrices of consecutive ξ: at least `count` floats, and an odd number of 64-byte
    /// lines, so that the t² rows a transform touches at once fall in different cache sets (a multiple of 4 KiB,
    /// as 64·32 floats is, put all 36 in one set and made the transforms several times slower).
    static func skewed(_ count: Int) -> Int {
        let lines = (count + 15) / 16
        return (lines | 1) * 16
    }

    /// Step 1 for input channels `channels`: V[ξ][c][p] at `v + ξ·xiStride + c·ld + p`.
    func inputTransform(x: UnsafePointer<Float>, channels range: Range<Int>, first: Int, n: Int,
                        v: UnsafeMutablePointer<Float>, ld: Int, xiStride: Int) {
        let m = self.m, t = self.t
        // Rows of Bᵀ·d for up to tilesW tiles in whole 8-tile groups, plus 8 columns of overlap.
        let stride = 8 * m * ((min(tilesW, n) + 7) / 8) + 8
        Scratch.with(.transform, count: t * stride) { tmp in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: t) { rowBuffer in
                let rows = rowBuffer.baseAddress!
                for c in range {
                    if c + 1 < range.upperBound {
                        // The next channel's rows, while this one is transformed (planes are far apart in memory).
                        forEachRun(first, n) { run in
                            let r0 = max(0, run.row * m + top), r1 = min(height, run.row * m + top + t)
                            if r1 > r0 {
                                ck_prefetch(x + ((run.image * channels + c + 1) * height + r0) * width, (r1 - r0) * width * 4)
                            }
                        }
                    }
                    forEachRun(first, n) { run in
                        let groups = (run.count + 7) / 8
                        let span = 8 * m * groups + 8
                        // Strip column u is input column c0 + u; lo..<hi are inside the input.
                        let c0 = run.column * m + left
                        let lo = min(span, max(0, -c0)), hi = max(lo, min(span, width - c0))
                        let plane = x + (run.image * channels + c) * height * width
                        for i in 0..<t {
                            let r = run.row * m + top + i
                            rows[i] = r >= 0 && r < height && hi > lo ? plane + r * width + c0 : nil
                        }
                        ck_wino_input_rows(Int32(m), rows, lo, hi, tmp, stride, span)
                        ck_wino_input_tiles(Int32(m), tmp, stride, groups, v + c * ld + run.offset, xiStride,
                                            ld - run.offset)
                    }
                }
            }
        }
    }

    /// Step 3 for output channels `channels`: y = Aᵀ M A (+ bias, ReLU), cropped to the run and the plane.
    func outputTransform(mo: UnsafePointer<Float>, channels range: Range<Int>, first: Int, n: Int, ld: Int,
                         xiStride: Int, bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>) {
        let m = self.m
        for o in range {
            forEachRun(first, n) { run in
                let plane = y + (run.image * outChannels + o) * outH * outW
                let rows = min(m, outH - run.row * m), cols = min(run.count * m, outW - run.column * m)
                ck_wino_output_tiles(Int32(m), mo + o * ld + run.offset, xiStride, (run.count + 7) / 8,
                                     bias.map { $0 + o }, relu ? 1 : 0, plane + run.row * m * outW + run.column * m,
                                     outW, Int32(rows), cols)
            }
        }
    }
}

/// Which Winograd tile: F(2×2, 3×3) or F(4×4, 3×3).
public enum WinogradTile: Int, Sendable, CaseIterable {
    case f2 = 2
    case f4 = 4
}
