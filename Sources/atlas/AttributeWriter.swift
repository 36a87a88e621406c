import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import Foundation

/// The per-batch work of `atlas attribute`: pick the classes, compute the maps, write overlays, raw maps and
/// input pictures (atomically, encoded in parallel), and collect the contact sheet rows and JSON records.
final class AttributionWriter {
    let out: String
    let setup: ModelSetup
    let method: AttributionMethod
    let overlay: HeatmapOverlay
    let ranks: Int
    let fixedClass: Int?
    private(set) var entries: [ContactSheet.Entry] = []
    private(set) var records: [[String: Any]] = []

    init(out: String, setup: ModelSetup, method: AttributionMethod, overlay: HeatmapOverlay, ranks: Int, fixedClass: Int?) {
        self.out = out; self.setup = setup; self.method = method; self.overlay = overlay; self.ranks = ranks; self.fixedClass = fixedClass
    }

    /// `NNNN-name`: the image's position and its file name reduced to `[A-Za-z0-9._-]` (IDX items keep their number).
    static func stem(_ path: String, number: Int) -> String {
        let name = (path as NSString).lastPathComponent
        let base = name.contains("#") ? name : (name as NSString).deletingPathExtension
        let safe = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }.prefix(80))
        return String(format: "%04d-", number) + safe
    }

    func process(_ batch: ImageBatch, attributor: Attributor) throws {
        let n = batch.files.count
        let scores = try attributor.scores(batch.tensor)
        let k = scores.shape[1]
        let probabilities = (0..<n).map { ClassScores.probabilities(Array(UnsafeBufferPointer(start: scores.data + $0 * k, count: k))) }
        let targets: [[Int]] = probabilities.map { p in fixedClass.map { [$0] } ?? ClassScores.top(p, k: min(ranks, k)) }
        if let c = fixedClass, c >= k {
            throw CommandFailure(message: "--class \(c) is out of range: the model has \(k) classes (0…\(k - 1))", code: AtlasExit.usage)
        }
        var results: [AttributionResult] = []
        for r in 0..<targets[0].count { results.append(try attributor.attribute(batch.tensor, classes: targets.map { $0[r] })) }

        let shown = batch.tensor.copy()
        try setup.normalization.invert(shown)
        let first = entries.count
        let (h, w) = (batch.tensor.shape[2], batch.tensor.shape[3])
        let made: [Result<(ContactSheet.Entry, [String: Any]), Error>] = Parallel.mapChunks(n) { i in
            Result {
                let stem = AttributionWriter.stem(batch.files[i], number: first + i + 1)
                let image = try Image(tensor: shown, index: i)
                let clamped = try Image(width: image.width, height: image.height, channels: image.channels, pixels: image.pixels.map { min(1, max(0, $0)) })
                try ImageCodec.writeAtomically(try ImageCodec.encodePNG(self.overlay.enlarged(clamped)), to: "\(self.out)/\(stem).input.png")
                var overlays: [ContactSheet.Overlay] = [], maps: [[String: Any]] = []
                for result in results {
                    let c = result.classes[i]
                    let map = Array(UnsafeBufferPointer(start: result.maps.data + i * h * w, count: h * w))
                    let range = HeatmapOverlay.range(map, percentile: self.method == .gradCAM ? 100 : 99.5)
                    let picture = try self.overlay.render(image: clamped, map: map, range: range, magnitude: self.method.isSigned)
                    let name = "\(stem).k\(c)"
                    try ImageCodec.writeAtomically(try ImageCodec.encodePNG(picture), to: "\(self.out)/\(name).png")
                    try ImageCodec.writeAtomically(Array(NPY.encode(Tensor(shape: [h, w], values: map))), to: "\(self.out)/\(name).npy")
                    let rangeText = "\(self.method.isSigned ? "|map| " : "")\(HeatmapOverlay.format(range.low))…\(HeatmapOverlay.format(range.high))\(range.clipped ? "+" : "")"
                    overlays.append(.init(caption: "\(self.setup.label(c)) (\(String(format: "%.3f", probabilities[i][c])))",
                                          image: "\(name).png", npy: "\(name).npy", range: rangeText))
                    var record: [String: Any] = ["class": c, "label": self.setup.label(c), "probability": Double(probabilities[i][c]),
                                                 "overlay": "\(name).png", "map": "\(name).npy",
                                                 "min": Double(map.min() ?? 0), "max": Double(map.max() ?? 0),
                                                 "sum": map.reduce(0.0) { $0 + Double($1) }]
                    if let delta = result.logitDelta { record["logit_delta"] = Double(delta[i]) }
                    maps.append(record)
                }
                let best = ClassScores.top(probabilities[i], k: min(5, k))
                let entry = ContactSheet.Entry(file: batch.files[i], input: "\(stem).input.png", overlays: overlays,
                                               top: best.map { (self.setup.label($0), probabilities[i][$0]) })
                let record: [String: Any] = ["file": batch.files[i], "input": "\(stem).input.png", "maps": maps,
                                             "top": best.map { ["class": $0, "label": self.setup.label($0), "probability": Double(probabilities[i][$0])] }]
                return (entry, record)
            }
        }
        for m in made {
            switch m {
            case let .success((entry, record)): entries.append(entry); records.append(record)
            case let .failure(error):
                throw CommandFailure(message: "cannot write into \(out): \(error)", code: AtlasExit.cannotCreate)
            }
        }
    }
}
