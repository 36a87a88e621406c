import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import Foundation

/// The per-batch files of `atlas attention`: for each image its input picture, and per chosen layer and head (and
/// the rollout) an overlay and the raw patch-grid map (`OverlayFiles`), encoded in parallel, then the image's record
/// `NNNN-name.json` (`ImageRecord`: after its pictures and maps, so that a record means a finished image).
struct AttentionWriter {
    let files: OverlayFiles
    let setup: ModelSetup
    let layers: [AttentionLayer]
    let head: Int?
    let meanHeads: Bool
    let rollout: Bool

    /// One map of an image.
    struct Map: Codable, Equatable {
        /// The layer number, nil for the rollout.
        var layer: Int?
        /// The head, nil for the mean over heads (and the rollout).
        var head: Int?
        var overlay: String
        var map: String
        var range: String
        var min: Float, max: Float, sum: Double

        var caption: String {
            guard let layer else { return "rollout" }
            return "layer \(layer) · " + (head.map { "head \($0)" } ?? "mean")
        }
    }

    /// One image's maps and best classes, as stored in `OUT/NNNN-name.json`.
    struct Record: ImageRecord, Equatable {
        var file: String
        var input: String
        var maps: [Map]
        var top: [RankedClass]

        var files: [String] { [input] + maps.flatMap { [$0.overlay, $0.map] } }

        var entry: ContactSheet.Entry {
            ContactSheet.Entry(file: file, input: input,
                               overlays: maps.map { .init(caption: $0.caption, image: $0.overlay, npy: $0.map, range: $0.range) },
                               top: top.map { ($0.label, $0.probability) })
        }

        var json: [String: Any] {
            ["file": file, "input": input,
             "maps": maps.map { m -> [String: Any] in
                 var r: [String: Any] = ["overlay": m.overlay, "map": m.map, "min": Double(m.min), "max": Double(m.max), "sum": m.sum]
                 if let l = m.layer { r["layer"] = l; r["head"] = m.head.map { $0 as Any } ?? "mean" } else { r["rollout"] = true }
                 return r
             },
             "top": top.map(\.json)]
        }
    }

    /// Writes the files of batch `tensor` (items `items`, named `names`) from its maps; returns the records in order.
    func write(_ tensor: Tensor, _ batch: AttentionBatch, items: [Int], names: [String]) throws -> [Record] {
        let shown = tensor.copy()
        try setup.choice.preprocess.invert(shown)
        let means = batch.maps.mapValues { AttentionBatch.meanOverHeads($0) }
        let made: [Result<Record, Error>] = Parallel.mapChunks(items.count) { i in
            Result {
                let stem = AttributionWriter.stem(names[i], number: items[i] + 1)
                let image = try files.writeInput(shown, index: i, stem: stem)
                var maps: [Map] = []
                func add(_ t: Tensor, plane: Int, layer: Int?, head: Int?, name: String) throws {
                    let (h, w) = (t.shape[t.rank - 2], t.shape[t.rank - 1])
                    let values = Array(UnsafeBufferPointer(start: t.data + plane * h * w, count: h * w))
                    let range = try files.writeMap(values, height: h, width: w, name: name, on: image, percentile: 100, signed: false)
                    maps.append(Map(layer: layer, head: head, overlay: name + ".png", map: name + ".npy", range: range,
                                    min: values.min() ?? 0, max: values.max() ?? 0, sum: values.reduce(0.0) { $0 + Double($1) }))
                }
                for l in layers {
                    guard let all = batch.maps[l.index], let mean = means[l.index] else { continue }
                    let tag = "\(stem).L" + String(format: "%02d", l.index)
                    if !meanHeads {
                        for h in head.map({ [$0] }) ?? Array(0..<l.heads) {
                            try add(all, plane: i * l.heads + h, layer: l.index, head: h, name: "\(tag).h\(h)")
                        }
                    }
                    if head == nil { try add(mean, plane: i, layer: l.index, head: nil, name: "\(tag).mean") }
                }
                if let r = batch.rollout { try add(r, plane: i, layer: nil, head: nil, name: "\(stem).rollout") }
                let record = Record(file: names[i], input: "\(stem).input.png", maps: maps,
                                    top: setup.topK(batch.scores, row: i, k: 5).map(RankedClass.init))
                try record.write(out: files.out, stem: stem)
                return record
            }
        }
        return try made.map { m in try inContext("cannot write into \(files.out)") { try m.get() } }
    }
}
