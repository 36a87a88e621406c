import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import Foundation

/// The per-batch work of `atlas attribute`: pick the classes, compute the maps, write overlays, raw maps and
/// input pictures (atomically, encoded in parallel), then each image's record `NNNN-name.json` (after its
/// pictures and maps, so a record means a finished image; see `AttributionRecord`).
struct AttributionWriter {
    let out: String
    let setup: ModelSetup
    let method: AttributionMethod
    let overlay: HeatmapOverlay
    let ranks: Int
    let fixedClass: Int?

    /// `NNNN-name`: the image's item number (1-based position in the input list, skipped items included, so it
    /// never depends on what a run computed before) and its file name reduced to `[A-Za-z0-9._-]` (IDX items keep
    /// their number).
    static func stem(_ path: String, number: Int) -> String {
        let name = (path as NSString).lastPathComponent
        let base = name.contains("#") ? name : (name as NSString).deletingPathExtension
        let safe = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }.prefix(80))
        return String(format: "%04d-", number) + safe
    }

    /// Explains the `[n, C, H, W]` batch `tensor` whose rows are items `items` named `names`, writes every image's
    /// files and record, and returns the records in batch order.
    func process(_ tensor: Tensor, items: [Int], names: [String], attributor: Attributor) throws -> [AttributionRecord] {
        let n = items.count
        let scores = try attributor.scores(tensor)
        let k = scores.shape[1]
        let probabilities = (0..<n).map { ClassScores.probabilities(Array(UnsafeBufferPointer(start: scores.data + $0 * k, count: k))) }
        let targets: [[Int]] = probabilities.map { p in fixedClass.map { [$0] } ?? ClassScores.top(p, k: min(ranks, k)) }
        if let c = fixedClass, c >= k {
            throw CommandFailure(message: "--class \(c) is out of range: the model has \(k) classes (0…\(k - 1))", code: AtlasExit.usage)
        }
        var results: [AttributionResult] = []
        for r in 0..<targets[0].count { results.append(try attributor.attribute(tensor, classes: targets.map { $0[r] })) }

        let shown = tensor.copy()
        try setup.choice.preprocess.invert(shown)
        let (h, w) = (tensor.shape[2], tensor.shape[3])
        let made: [Result<AttributionRecord, Error>] = Parallel.mapChunks(n) { i in
            Result {
                let stem = AttributionWriter.stem(names[i], number: items[i] + 1)
                let files = OverlayFiles(out: self.out, overlay: self.overlay)
                let clamped = try files.writeInput(shown, index: i, stem: stem)
                var maps: [AttributionRecord.Map] = []
                for result in results {
                    let c = result.classes[i]
                    let map = Array(UnsafeBufferPointer(start: result.maps.data + i * h * w, count: h * w))
                    let name = "\(stem).k\(c)"
                    let rangeText = try files.writeMap(map, height: h, width: w, name: name, on: clamped,
                                                       percentile: self.method == .gradCAM ? 100 : 99.5, signed: self.method.isSigned)
                    maps.append(.init(class: c, label: self.setup.label(c), probability: probabilities[i][c], overlay: "\(name).png",
                                      map: "\(name).npy", range: rangeText, min: map.min() ?? 0, max: map.max() ?? 0,
                                      sum: map.reduce(0.0) { $0 + Double($1) }, logitDelta: result.logitDelta?[i]))
                }
                let best = ClassScores.top(probabilities[i], k: min(5, k))
                let record = AttributionRecord(file: names[i], input: "\(stem).input.png", maps: maps,
                                               top: best.map { .init(class: $0, label: self.setup.label($0), probability: probabilities[i][$0]) })
                try record.write(out: self.out, stem: stem)
                return record
            }
        }
        return try made.map { m in
            try inContext("cannot write into \(out)") { try m.get() }
        }
    }
}

/// One finished image of `atlas attribute`, as stored in `OUT/NNNN-name.json` (`ImageRecord`).
struct AttributionRecord: ImageRecord, Equatable {
    struct Map: Codable, Equatable {
        var `class`: Int
        var label: String
        var probability: Float
        var overlay: String
        var map: String
        /// The legend's value range as shown under the overlay.
        var range: String
        var min: Float
        var max: Float
        var sum: Double
        var logitDelta: Float?
        enum CodingKeys: String, CodingKey { case `class`, label, probability, overlay, map, range, min, max, sum, logitDelta = "logit_delta" }
    }
    typealias Top = RankedClass
    var file: String
    var input: String
    var maps: [Map]
    var top: [Top]

    /// The input picture, then each map's overlay and raw map.
    var files: [String] { [input] + maps.flatMap { [$0.overlay, $0.map] } }

    /// The contact sheet row.
    var entry: ContactSheet.Entry {
        ContactSheet.Entry(file: file, input: input,
                           overlays: maps.map { .init(caption: "\($0.label) (\(String(format: "%.3f", $0.probability)))", image: $0.overlay,
                                                      npy: $0.map, range: $0.range) },
                           top: top.map { ($0.label, $0.probability) })
    }

    /// The `--json` result.
    var json: [String: Any] {
        ["file": file, "input": input,
         "maps": maps.map { m -> [String: Any] in
             var r: [String: Any] = ["class": m.class, "label": m.label, "probability": Double(m.probability), "overlay": m.overlay,
                                     "map": m.map, "min": Double(m.min), "max": Double(m.max), "sum": m.sum]
             if let d = m.logitDelta { r["logit_delta"] = Double(d) }
             return r
         },
         "top": top.map(\.json)]
    }
}
