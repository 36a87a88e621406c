import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import Foundation

/// The per-image pictures of `atlas attribute` and `atlas attention`, written atomically into `out`: the input as
/// the model saw it (`STEM.input.png`), and per map an overlay with its legend (`NAME.png`) beside the raw float32
/// map (`NAME.npy`, at the map's own resolution).
struct OverlayFiles {
    let out: String
    let overlay: HeatmapOverlay

    /// Row `index` of `shown` (network input mapped back to [0, 1] pixels), clamped to [0, 1]; written, enlarged for
    /// small inputs, as `STEM.input.png`.
    func writeInput(_ shown: Tensor, index: Int, stem: String) throws -> Image {
        let image = try Image(tensor: shown, index: index)
        let clamped = try Image(width: image.width, height: image.height, channels: image.channels, pixels: image.pixels.map { min(1, max(0, $0)) })
        try ImageCodec.writeAtomically(try ImageCodec.encodePNG(overlay.enlarged(clamped)), to: "\(out)/\(stem).input.png")
        return clamped
    }

    /// Writes `NAME.png`, the overlay of `map` (`height × width` values, row-major; a coarser map than the image, such
    /// as a patch grid, covers it in blocks by nearest neighbour) on `image`, ranging from 0 to the `percentile` of the
    /// magnitudes (`signed` maps show their magnitude), and `NAME.npy`, the map as it is. Returns the range as the
    /// legend shows it (`|map| 0…0.0123+`; `+`: larger values saturate).
    func writeMap(_ map: [Float], height: Int, width: Int, name: String, on image: Image, percentile: Double, signed: Bool) throws -> String {
        let range = HeatmapOverlay.range(map, percentile: percentile)
        var covering = map
        if height != image.height || width != image.width {
            covering = [Float](repeating: 0, count: image.planeSize)
            for y in 0..<image.height {
                let row = y * height / image.height
                for x in 0..<image.width { covering[y * image.width + x] = map[row * width + x * width / image.width] }
            }
        }
        let picture = try overlay.render(image: image, map: covering, range: range, magnitude: signed)
        try ImageCodec.writeAtomically(try ImageCodec.encodePNG(picture), to: "\(out)/\(name).png")
        try ImageCodec.writeAtomically(Array(NPY.encode(Tensor(shape: [height, width], values: map))), to: "\(out)/\(name).npy")
        return "\(signed ? "|map| " : "")\(HeatmapOverlay.format(range.low))…\(HeatmapOverlay.format(range.high))\(range.clipped ? "+" : "")"
    }
}
