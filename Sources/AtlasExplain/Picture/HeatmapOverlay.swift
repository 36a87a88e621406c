/// Heatmap overlays: a map coloured with a perceptual colormap, blended over the (grey) input image, scaled up
/// for small inputs, with a legend bar and its value range underneath.
import AtlasImage
import Foundation

public struct HeatmapOverlay: Sendable {
    public var colormap: Colormap
    /// Weight of the heatmap colour over the grey image.
    public var alpha: Float
    /// Images whose longer side is smaller are scaled up by an integer factor (nearest neighbour) to reach it.
    public var minimumSide: Int

    public init(colormap: Colormap = Colormap(.inferno), alpha: Float = 0.6, minimumSide: Int = 224) {
        self.colormap = colormap; self.alpha = alpha; self.minimumSide = minimumSide
    }

    /// The display range of a map: from 0 to the `percentile` of the magnitudes; `clipped` when larger values
    /// exist (they saturate; the legend marks the top with `+`).
    public static func range(_ map: [Float], percentile: Double = 100) -> (low: Float, high: Float, clipped: Bool) {
        let magnitudes = map.map { abs($0) }.filter { $0.isFinite }.sorted()
        guard let top = magnitudes.last else { return (0, 1, false) }
        let rank = Int((percentile / 100 * Double(magnitudes.count - 1)).rounded())
        var high = magnitudes[min(magnitudes.count - 1, max(0, rank))]
        if high <= 0 { high = top > 0 ? top : 1 }
        return (0, high, top > high)
    }

    /// The integer factor that brings a `width × height` picture to `minimumSide`.
    public func scale(width: Int, height: Int) -> Int { max(1, (minimumSide + max(width, height) - 1) / max(width, height)) }

    /// `image` (1 or 3 channels, [0, 1]) scaled up by `scale(…)` as RGB.
    public func enlarged(_ image: Image) -> Image {
        let s = scale(width: image.width, height: image.height)
        let rgb = image.converted(to: .rgb)
        var out = Image(width: image.width * s, height: image.height * s, channels: 3)
        let (w, W, H, plane, Plane) = (image.width, image.width * s, image.height * s, image.planeSize, out.planeSize)
        rgb.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    for y in 0..<H {
                        let row = src.baseAddress! + c * plane + (y / s) * w, o = dst.baseAddress! + c * Plane + y * W
                        for x in 0..<W { o[x] = row[x / s] }
                    }
                }
            }
        }
        return out
    }

    /// The overlay of `map` (`image.height × image.width` values, row-major; its magnitude when `magnitude`) on
    /// `image`, with a legend for `range`.
    public func render(image: Image, map: [Float], range: (low: Float, high: Float, clipped: Bool), magnitude: Bool) throws -> Image {
        guard map.count == image.planeSize else {
            throw AttributionError.invalidOption("map of \(map.count) values for a \(image.width)×\(image.height) image")
        }
        let base = enlarged(image)
        let s = base.width / image.width
        let k = base.width >= 200 ? 2 : 1
        let legendHeight = 28 * k
        var out = Image(width: base.width, height: base.height + legendHeight, channels: 3, repeating: 0.07)
        let (W, plane, span) = (base.width, out.planeSize, max(range.high - range.low, .leastNormalMagnitude))
        let (a, b) = (alpha, 1 - alpha)
        base.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                let (r, g, bl) = (src.baseAddress!, src.baseAddress! + base.planeSize, src.baseAddress! + 2 * base.planeSize)
                for y in 0..<base.height {
                    for x in 0..<W {
                        let v = map[(y / s) * image.width + x / s]
                        let c = colormap.color(((magnitude ? abs(v) : v) - range.low) / span)
                        let i = y * W + x
                        let gray = 0.299 * r[i] + 0.587 * g[i] + 0.114 * bl[i]
                        dst[i] = b * gray + a * c.r
                        dst[plane + i] = b * gray + a * c.g
                        dst[2 * plane + i] = b * gray + a * c.b
                    }
                }
            }
        }
        drawLegend(into: &out, top: base.height, scale: k, range: range)
        return out
    }

    /// A colour bar spanning the width and the range's ends written under it.
    func drawLegend(into out: inout Image, top: Int, scale k: Int, range: (low: Float, high: Float, clipped: Bool)) {
        let margin = 4 * k, barTop = top + 4 * k, barHeight = 10 * k
        let (W, plane) = (out.width, out.planeSize)
        let barWidth = max(1, W - 2 * margin)
        for x in 0..<barWidth {
            let c = colormap.color(Float(x) / Float(max(1, barWidth - 1)))
            for y in barTop..<(barTop + barHeight) {
                let i = y * W + margin + x
                out.pixels[i] = c.r; out.pixels[plane + i] = c.g; out.pixels[2 * plane + i] = c.b
            }
        }
        let textTop = barTop + barHeight + 3 * k
        let low = HeatmapOverlay.format(range.low), high = HeatmapOverlay.format(range.high) + (range.clipped ? "+" : "")
        BitmapFont.draw(low, into: &out, x: margin, y: textTop, scale: k, color: (0.9, 0.9, 0.9))
        BitmapFont.draw(high, into: &out, x: W - margin - BitmapFont.width(high, scale: k), y: textTop, scale: k, color: (0.9, 0.9, 0.9))
    }

    /// Three significant digits (`0`, `0.0123`, `1.23e-05`).
    public static func format(_ v: Float) -> String {
        v == 0 ? "0" : String(format: "%.3g", Double(v))
    }
}
