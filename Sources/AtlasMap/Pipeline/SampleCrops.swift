/// The crops that link an atlas cell to its member images: per sample listed in a cell (`samplesPerCell` of them),
/// the receptive field of the sample's layer position cut out of the network's view of its image, written at map
/// time as `samples/<item>-<x>-<y>.jpg` and recorded as the sample's `thumb` in `atlas.json` (the viewer's panel
/// shows them). Part of the map recipe, so a merge of shards writes the same crops.
import AtlasCore
import AtlasImage
import AtlasNet
import AtlasOutput
import Foundation

/// How to re-read and crop the collection's images.
public struct SampleCrops: Codable, Sendable, Equatable {
    /// The collection's inputs and limit (its item numbers), the input channels and the geometry that made the
    /// network input, and the layer's receptive field at that input.
    public var inputs: [String]
    public var limit: Int?
    public var channels: Int
    public var geometry: UnitsRecipe.Geometry
    public var field: ReceptiveField

    public init(inputs: [String], limit: Int?, channels: Int, geometry: Preprocessor.Geometry, field: ReceptiveField) {
        self.inputs = inputs; self.limit = limit; self.channels = channels; self.geometry = UnitsRecipe.Geometry(geometry); self.field = field
    }

    /// The crop of the sample at layer cell `(x, y)` of item `item`.
    public static func path(item: Int, x: Int, y: Int) -> String { "samples/\(item)-\(x)-\(y).jpg" }

    /// Writes the crops of `samples` (item, x, y) into `folder`, a few images at a time in parallel, and returns the
    /// paths written by sample. Images that cannot be read (moved since the collection, or unreadable) get none.
    func write(_ samples: [(item: Int, x: Int, y: Int)], items: Int, folder: OutputFolder) throws -> [String: String] {
        guard let source = try? ImageSource(inputs: inputs, channels: channels, limit: limit), source.items.count == items else { return [:] }
        var byItem: [Int: [(x: Int, y: Int)]] = [:]
        for s in samples where !(byItem[s.item]?.contains { $0 == (s.x, s.y) } ?? false) { byItem[s.item, default: []].append((s.x, s.y)) }
        let order = byItem.keys.sorted()
        let view = Preprocessor(geometry: geometry.geometry, layout: channels == 1 ? .gray : .rgb)
        var written: [String: String] = [:]
        for start in stride(from: 0, to: order.count, by: 32) {
            let chunk = Array(order[start..<min(order.count, start + 32)])
            let files: [[(String, [UInt8])]] = Parallel.mapChunks(chunk.count) { k in
                let item = chunk[k]
                guard item < source.items.count, let image = try? view.geometryApplied(try source.image(item)) else { return [] }
                return byItem[item]!.compactMap { p in
                    let b = field.box(x: p.x, y: p.y, width: image.width, height: image.height)
                    guard let crop = try? image.cropped(x: b[0], y: b[1], width: b[2] - b[0] + 1, height: b[3] - b[1] + 1),
                          let bytes = try? ImageCodec.encodeJPEG(crop, quality: 90) else { return nil }
                    return (Self.path(item: item, x: p.x, y: p.y), bytes)
                }
            }
            for list in files {
                for (path, bytes) in list {
                    try UnitAssembly.write(bytes, path, folder)
                    written[path] = path
                }
            }
        }
        return written
    }
}
