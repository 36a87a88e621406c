/// `PyramidWriter`: streams a canvas, produced strip by strip, into a 256-px XYZ tile pyramid
/// (`<directory>/{z}/{x}/{y}.jpg|png`, Assets/viewer/FORMAT.md) without ever holding the canvas.
///
/// Each level keeps one band of `tileSize` rows as 8-bit interleaved samples (width padded to whole tiles with
/// the background). When a band of level `z` is complete its tiles are encoded in parallel and written, and the
/// band is shrunk 2×2 (box filter, `(a + b + c + d + 2) / 4`; an odd last row/column is paired with itself)
/// into half of level `z − 1`'s band, which completes after two finer bands — the cascade libvips uses. Peak
/// memory is about `channels · tileSize · Σ paddedWidth(z)` (≈ 2× the top band) plus one strip of Float32 and
/// per-thread tile buffers; `PyramidStats.peakHeldBytes` reports the measured figure.
import AtlasCore
import CCodecs
import Synchronization

public final class PyramidWriter {
    public let geometry: PyramidGeometry
    public let channels: Int
    public let options: PyramidOptions
    /// Folder of the tiles (`…/tiles/<grid-id>`); levels go in `z/x/y.ext` under it.
    public let directory: String

    /// Checks the arguments (canvas size, channels 1 or 3, strip height dividing 256, encoder settings).
    public init(directory: String, width: Int, height: Int, channels: Int = 3, options: PyramidOptions = .init()) throws {
        geometry = try PyramidGeometry(width: width, height: height, tileSize: 256)
        guard channels == 1 || channels == 3 else {
            throw ImageError(.invalidArgument, file: directory, reason: "pyramid canvases have 1 or 3 channels, not \(channels)")
        }
        guard options.stripRows > 0, 256 % options.stripRows == 0 else {
            throw ImageError(.invalidArgument, file: directory, reason: "strip height \(options.stripRows) does not divide 256")
        }
        switch options.format {
        case .jpeg(let q) where !(1...100).contains(q):
            throw ImageError(.invalidArgument, file: directory, reason: "JPEG quality \(q) (1–100)")
        case .png(let level, let filter) where !(0...9).contains(level) || filter.isEmpty:
            throw ImageError(.invalidArgument, file: directory, reason: "PNG level \(level) (0–9), filters \(filter.rawValue)")
        default: break
        }
        guard (0...9).contains(options.fullImagePNGLevel) else {
            throw ImageError(.invalidArgument, file: directory, reason: "PNG level \(options.fullImagePNGLevel) (0–9)")
        }
        self.directory = directory
        self.channels = channels
        self.options = options
    }

    /// Writes every level. `produce` is called for consecutive strips top to bottom, each pre-filled with the
    /// background; it paints its rows (e.g. with `CanvasBand.paste`). Errors of `produce` are rethrown as is.
    @discardableResult
    public func write(_ produce: (CanvasBand) throws -> Void) throws -> PyramidStats {
        let run = try PyramidRun(writer: self)
        return try run.execute(produce)
    }
}

/// Tracks the bytes a run holds, and the peak.
final class HeldBytes: Sendable {
    private let state = Mutex<(held: Int, peak: Int)>((0, 0))
    func add(_ n: Int) { state.withLock { $0.held += n; $0.peak = max($0.peak, $0.held) } }
    func remove(_ n: Int) { state.withLock { $0.held -= n } }
    var peak: Int { state.withLock { $0.peak } }
}

/// One level's band of `tileSize` rows, 8-bit interleaved, width padded to whole tiles.
final class LevelBand {
    let z: Int, width: Int, height: Int, columns: Int, bands: Int, paddedWidth: Int, channels: Int
    let bytes: UnsafeMutablePointer<UInt8>
    var byteCount: Int { paddedWidth * 256 * channels }
    init(geometry g: PyramidGeometry, z: Int, channels: Int, background: [UInt8]) {
        self.z = z
        (width, height) = g.levelSize(z)
        (columns, bands) = g.tileCount(z)
        paddedWidth = columns * 256
        self.channels = channels
        bytes = .allocate(capacity: paddedWidth * 256 * channels)
        LevelBand.fill(bytes, pixels: paddedWidth * 256, channels: channels, color: background)
    }
    deinit { bytes.deallocate() }
    @inline(__always) func row(_ r: Int) -> UnsafeMutablePointer<UInt8> { bytes + r * paddedWidth * channels }
    static func fill(_ p: UnsafeMutablePointer<UInt8>, pixels: Int, channels: Int, color: [UInt8]) {
        if channels == 1 { p.update(repeating: color[0], count: pixels); return }
        for i in 0..<pixels { for c in 0..<channels { p[i * channels + c] = color[c] } }
    }
}

/// The state of one `PyramidWriter.write` call.
final class PyramidRun {
    let writer: PyramidWriter
    let g: PyramidGeometry
    let channels: Int
    let background: [UInt8]
    let levels: [LevelBand]
    let held = HeldBytes()
    var full: UnsafeMutablePointer<UInt8>? = nil
    var tilesWritten = 0, tileBytes = 0

    init(writer: PyramidWriter) throws {
        self.writer = writer
        g = writer.geometry
        channels = writer.channels
        background = writer.options.background.samples(channels: channels)
        levels = (0...g.maxZoom).map { LevelBand(geometry: writer.geometry, z: $0, channels: writer.channels, background: writer.options.background.samples(channels: writer.channels)) }
        for level in levels { held.add(level.byteCount) }
    }

    deinit {
        for level in levels { held.remove(level.byteCount) }
        full?.deallocate()
    }

    func execute(_ produce: (CanvasBand) throws -> Void) throws -> PyramidStats {
        let options = writer.options
        for z in 0...g.maxZoom {
            for x in 0..<levels[z].columns { try TileFiles.makeDirectories("\(writer.directory)/\(z)/\(x)") }
        }
        let wantFull = options.fullImagePath != nil && g.width * g.height <= options.fullImageMaxPixels
        if wantFull {
            full = .allocate(capacity: g.width * g.height * channels)
            held.add(g.width * g.height * channels)
        }
        let strip = CanvasBand(width: g.width, channels: channels, capacity: options.stripRows)
        held.add(strip.byteCount)
        defer { held.remove(strip.byteCount) }
        let fill = background.map { Float($0) / 255 }
        let top = levels[g.maxZoom]
        var y0 = 0
        while y0 < g.height {
            let h = min(options.stripRows, g.height - y0)
            strip.y0 = y0
            strip.height = h
            strip.fill(fill)
            try produce(strip)
            convert(strip, into: top)
            y0 += h
            if y0 % 256 == 0 || y0 == g.height { try complete(top, band: (y0 - 1) / 256) }
        }
        if wantFull, let full, let path = options.fullImagePath {
            let png = try encode(full, width: g.width, height: g.height, rowBytes: g.width * channels,
                                 format: .png(level: options.fullImagePNGLevel, filter: .fast))
            try png.withUnsafeBytes { try TileFiles.writeAtomically($0.baseAddress!, count: $0.count, to: path) }
            self.full = nil
            full.deallocate()
            held.remove(g.width * g.height * channels)
        }
        if let dzi = options.dziPath {
            let text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                + "<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"\(options.format.fileExtension)\""
                + " Overlap=\"0\" TileSize=\"256\">\n  <Size Width=\"\(g.width)\" Height=\"\(g.height)\"/>\n</Image>\n"
            try ImageCodec.writeAtomically(Array(text.utf8), to: dzi)
        }
        return PyramidStats(geometry: g, tilesWritten: tilesWritten, tileBytes: tileBytes,
                            peakHeldBytes: held.peak, wroteFullImage: wantFull)
    }

    /// Float strip → 8-bit rows of the top level band (rounded like `Image.interleavedBytes`), and the full image.
    func convert(_ strip: CanvasBand, into level: LevelBand) {
        let w = strip.width, ch = channels, h = strip.height, y0 = strip.y0
        let src = strip.pixels, full = self.full
        Parallel.forRanges(h, grain: 4) { rows in
            for r in rows {
                let d = level.row((y0 + r) % 256)
                for c in 0..<ch {
                    let s = src + (c * h + r) * w
                    for x in 0..<w {
                        let v = s[x] * 255 + 0.5
                        d[x * ch + c] = v >= 255 ? 255 : (v >= 0 ? UInt8(v) : 0)
                    }
                }
                full?.advanced(by: (y0 + r) * w * ch).update(from: d, count: w * ch)
            }
        }
    }

    /// Band `b` of `level` is filled: pad, encode its tiles, shrink it into the coarser level, cascade.
    func complete(_ level: LevelBand, band b: Int) throws {
        let rows = min(256, level.height - b * 256)
        if rows < 256 {
            LevelBand.fill(level.row(rows), pixels: (256 - rows) * level.paddedWidth, channels: channels, color: background)
        }
        try writeTiles(level, band: b)
        guard level.z > 0 else { return }
        let coarse = levels[level.z - 1]
        shrink(level, rows: rows, into: coarse, at: (b % 2) * 128)
        if b % 2 == 1 || b == level.bands - 1 { try complete(coarse, band: b / 2) }
    }

    /// 2×2 box shrink of `rows` band rows into `coarse` rows starting at `offset`.
    func shrink(_ fine: LevelBand, rows: Int, into coarse: LevelBand, at offset: Int) {
        let ch = channels, outRows = (rows + 1) / 2, outWidth = coarse.width, lastX = fine.width - 1
        Parallel.forRanges(outRows, grain: 8) { range in
            for r in range {
                let a = fine.row(2 * r), b = fine.row(min(2 * r + 1, rows - 1)), d = coarse.row(offset + r)
                for x in 0..<outWidth {
                    let x0 = 2 * x * ch, x1 = min(2 * x + 1, lastX) * ch
                    for c in 0..<ch {
                        let sum = UInt16(a[x0 + c]) + UInt16(a[x1 + c]) + UInt16(b[x0 + c]) + UInt16(b[x1 + c]) + 2
                        d[x * ch + c] = UInt8(truncatingIfNeeded: sum >> 2)
                    }
                }
            }
        }
    }

    /// Encodes and writes the tiles of band `b` of `level` in parallel (one task per tile column).
    func writeTiles(_ level: LevelBand, band b: Int) throws {
        let ch = channels, format = writer.options.format, dir = writer.directory
        let results: [Result<Int, ImageError>] = Parallel.mapChunks(level.columns) { x in
            let tileBytes = 256 * 256 * ch
            let tile = UnsafeMutablePointer<UInt8>.allocate(capacity: tileBytes)
            self.held.add(tileBytes)
            defer { tile.deallocate(); self.held.remove(tileBytes) }
            for r in 0..<256 { (tile + r * 256 * ch).update(from: level.row(r) + x * 256 * ch, count: 256 * ch) }
            do {
                let bytes = try self.encode(tile, width: 256, height: 256, rowBytes: 256 * ch, format: format)
                let path = "\(dir)/\(level.z)/\(x)/\(b).\(format.fileExtension)"
                try bytes.withUnsafeBytes { try TileFiles.writeAtomically($0.baseAddress!, count: $0.count, to: path) }
                return .success(bytes.count)
            } catch let error as ImageError {
                return .failure(error)
            } catch {
                return .failure(ImageError(.encodeFailed, file: dir, reason: "\(error)"))
            }
        }
        for result in results {
            tileBytes += try result.get()
            tilesWritten += 1
        }
    }

    /// Encodes contiguous interleaved rows with the CCodecs shim, counting the encoder's output while held.
    func encode(_ pixels: UnsafePointer<UInt8>, width: Int, height: Int, rowBytes: Int, format: TileFormat) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status: Int32 = message.withUnsafeMutableBufferPointer { m in
            switch format {
            case .jpeg(let quality):
                return cc_jpeg_encode(pixels, UInt32(width), UInt32(height), Int32(channels), Int32(quality), 420,
                                      &output, &size, m.baseAddress!, 256)
            case .png(let level, let filter):
                return cc_png_encode(pixels, UInt32(width), UInt32(height), Int32(channels), Int32(level), filter.rawValue,
                                     &output, &size, m.baseAddress!, 256)
            }
        }
        defer { cc_free(output) }
        guard Int(status) == CC_OK, let output else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError(.encodeFailed, file: writer.directory, reason: text)
        }
        held.add(size)
        defer { held.remove(size) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
