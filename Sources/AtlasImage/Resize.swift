/// Separable resampling of `Image`s: area averaging along an axis that shrinks (each output pixel is the
/// exact coverage-weighted mean of the source pixels under it, like OpenCV's INTER_AREA / PIL's BOX), and
/// bilinear interpolation with half-pixel centres along an axis that grows (align_corners = false).
/// Each output sample is computed independently in a fixed order, so results do not depend on threads.
import AtlasCore

/// Per-output-index taps along one axis: source `start + k` with weight `weights[offset + k]`.
struct ResampleAxis {
    var start: [Int32] = []
    var count: [Int32] = []
    var offset: [Int32] = []
    var weights: [Float] = []

    init(source: Int, target: Int) {
        start.reserveCapacity(target)
        count.reserveCapacity(target)
        offset.reserveCapacity(target)
        if target < source {
            let scale = Double(source) / Double(target)
            for i in 0..<target {
                let lo = Double(i) * scale, hi = Double(i + 1) * scale
                let first = Int(lo.rounded(.down)), last = min(source, Int(hi.rounded(.up)))
                var taps: [Double] = []
                for j in first..<last { taps.append(max(0, min(Double(j + 1), hi) - max(Double(j), lo))) }
                let total = taps.reduce(0, +)
                add(start: first, taps.map { Float($0 / total) })
            }
        } else {
            let scale = Double(source) / Double(target)
            for i in 0..<target {
                let x = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(source - 1))
                let j = Int(x.rounded(.down)), f = x - Double(j)
                if j + 1 < source && f > 0 { add(start: j, [Float(1 - f), Float(f)]) } else { add(start: j, [1]) }
            }
        }
    }

    private mutating func add(start s: Int, _ w: [Float]) {
        start.append(Int32(s))
        count.append(Int32(w.count))
        offset.append(Int32(weights.count))
        weights.append(contentsOf: w)
    }
}

extension Image {
    /// This image resampled to `width × height` (area averaging to shrink, bilinear to grow, per axis).
    /// Throws for non-positive sizes or more than `ImageLimits.current.maxPixels` pixels.
    public func resized(width newWidth: Int, height newHeight: Int) throws -> Image {
        guard newWidth > 0, newHeight > 0 else {
            throw ImageError(.invalidArgument, file: "<memory>", reason: "resize to \(newWidth)x\(newHeight)")
        }
        let (pixelsOut, overflow) = newWidth.multipliedReportingOverflow(by: newHeight)
        guard !overflow, pixelsOut <= ImageLimits.current.maxPixels else {
            throw ImageError(.tooLarge, file: "<memory>", reason: "resize to \(newWidth)x\(newHeight)")
        }
        if newWidth == width && newHeight == height { return self }
        let ch = channels, w = width, h = height
        // Horizontal pass: (C·H) rows of width w → width newWidth.
        var mid: [Float]
        if newWidth == w {
            mid = pixels
        } else {
            let axis = ResampleAxis(source: w, target: newWidth)
            mid = [Float](repeating: 0, count: ch * h * newWidth)
            pixels.withUnsafeBufferPointer { src in
                mid.withUnsafeMutableBufferPointer { dst in
                    Image.resampleRows(src.baseAddress!, dst.baseAddress!, rows: ch * h, srcWidth: w, axis: axis,
                                       dstWidth: newWidth)
                }
            }
        }
        if newHeight == h { return Image(uncheckedWidth: newWidth, height: h, channels: ch, pixels: mid) }
        // Vertical pass: each output row is a weighted sum of whole source rows (vectorizes over x).
        let axis = ResampleAxis(source: h, target: newHeight)
        var out = [Float](repeating: 0, count: ch * newHeight * newWidth)
        mid.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                axis.start.withUnsafeBufferPointer { start in
                axis.count.withUnsafeBufferPointer { count in
                axis.offset.withUnsafeBufferPointer { offset in
                axis.weights.withUnsafeBufferPointer { weights in
                    let total = ch * newHeight
                    Parallel.forRanges(total, grain: max(1, 65536 / newWidth)) { rows in
                        for r in rows {
                            let c = r / newHeight, oy = r % newHeight
                            let d = dst + r * newWidth
                            let first = Int(start[oy]), taps = Int(count[oy]), wo = Int(offset[oy])
                            for k in 0..<taps {
                                let s = src + (c * h + first + k) * newWidth
                                let wk = weights[wo + k]
                                if k == 0 { for x in 0..<newWidth { d[x] = s[x] * wk } }
                                else { for x in 0..<newWidth { d[x] += s[x] * wk } }
                            }
                        }
                    }
                }}}}
            }
        }
        return Image(uncheckedWidth: newWidth, height: newHeight, channels: ch, pixels: out)
    }

    /// Resamples `rows` rows of `srcWidth` samples along x.
    private static func resampleRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int,
                                     srcWidth: Int, axis: ResampleAxis, dstWidth: Int) {
        axis.start.withUnsafeBufferPointer { start in
        axis.count.withUnsafeBufferPointer { count in
        axis.offset.withUnsafeBufferPointer { offset in
        axis.weights.withUnsafeBufferPointer { weights in
            Parallel.forRanges(rows, grain: max(1, 65536 / max(srcWidth, dstWidth))) { range in
                for r in range {
                    let s = src + r * srcWidth, d = dst + r * dstWidth
                    for ox in 0..<dstWidth {
                        let first = Int(start[ox]), taps = Int(count[ox]), wo = Int(offset[ox])
                        var acc: Float = 0
                        for k in 0..<taps { acc += s[first + k] * weights[wo + k] }
                        d[ox] = acc
                    }
                }
            }
        }}}}
    }

    /// Resizes so the shorter side becomes `size`, keeping the aspect ratio (the longer side is rounded).
    public func resized(shorterSide size: Int) throws -> Image {
        guard size > 0 else { throw ImageError(.invalidArgument, file: "<memory>", reason: "shorter side \(size)") }
        if width <= height {
            let h = max(1, Int((Double(height) * Double(size) / Double(width)).rounded()))
            return try resized(width: size, height: h)
        }
        let w = max(1, Int((Double(width) * Double(size) / Double(height)).rounded()))
        return try resized(width: w, height: size)
    }
}
