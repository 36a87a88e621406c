/// `ActivationGrid`: one image's activation maps at a layer as a browsable grid — channels ranked by how strongly
/// they fire, each map coloured on one shared scale, tiled like a gallery (pyramid, `atlas.json` of kind
/// `activations`, viewer), each cell linked to the channel's feature visualization when a gallery is given.
import AtlasCore
import AtlasImage
import AtlasOutput
import Foundation

/// How a channel's firing is summarised for ranking.
public enum ChannelStatistic: String, CaseIterable, Sendable {
    /// The largest activation in the map.
    case max
    /// The mean activation over the map.
    case mean
}

/// One channel's summary.
public struct ChannelActivity: Sendable, Equatable {
    public var channel: Int
    public var max: Float
    public var mean: Float
    public func value(_ statistic: ChannelStatistic) -> Float { statistic == .max ? max : mean }
}

public enum ActivationGrid {
    /// Per channel of item 0 of `a` (`[N, C, H, W]` or `[N, C]`): max and mean, sorted by `statistic`, largest
    /// first (ties: lower channel first).
    public static func rank(_ a: Tensor, by statistic: ChannelStatistic) -> [ChannelActivity] {
        let c = a.shape[1], plane = a.rank == 4 ? a.shape[2] * a.shape[3] : 1
        let all = (0..<c).map { ch -> ChannelActivity in
            let p = UnsafeBufferPointer(start: a.data + ch * plane, count: plane)
            let sum = p.reduce(0.0) { $0 + Double($1) }
            return ChannelActivity(channel: ch, max: p.max() ?? 0, mean: Float(sum / Double(plane)))
        }
        return all.sorted { $0.value(statistic) > $1.value(statistic) || ($0.value(statistic) == $1.value(statistic) && $0.channel < $1.channel) }
    }

    /// What goes into the folder besides the maps.
    public struct Settings: Sendable {
        public var layer: String
        public var statistic: ChannelStatistic
        public var colormap: Colormap
        /// The picture the network saw ([0, 1], input resolution), shown under each map.
        public var input: Image
        /// Channel → path of its feature visualization (copied into the folder as `vis/cNNNN.png`).
        public var galleryIcons: [Int: String]
        public var model: AtlasIndex.Model
        public var title: String
        public var recorded: [String: JSONValue]

        public init(layer: String, statistic: ChannelStatistic, colormap: Colormap = Colormap(.inferno), input: Image,
                    galleryIcons: [Int: String] = [:], model: AtlasIndex.Model, title: String, recorded: [String: JSONValue] = [:]) {
            self.layer = layer; self.statistic = statistic; self.colormap = colormap; self.input = input
            self.galleryIcons = galleryIcons; self.model = model; self.title = title; self.recorded = recorded
        }
    }

    /// Writes the folder `out` for the activations `a` (`[1, C, H, W]` or `[1, C]`) and returns its index.
    @discardableResult
    public static func write(_ a: Tensor, settings: Settings, to out: String) throws -> AtlasIndex {
        guard a.rank == 4 || a.rank == 2, a.shape[0] >= 1, a.shape[1] >= 1 else {
            throw AttributionError.invalidOption("activations of shape \(a.shape) are not [N, C, H, W] or [N, C]")
        }
        let folder = try OutputFolder(path: out)
        for sub in ["maps", "vis"] { try FileManager.default.createDirectory(atPath: folder.file(sub), withIntermediateDirectories: true) }
        let (c, h, w) = (a.shape[1], a.rank == 4 ? a.shape[2] : 1, a.rank == 4 ? a.shape[3] : 1)
        let ranked = rank(a, by: settings.statistic)
        let values = UnsafeBufferPointer(start: a.data, count: c * h * w)
        let low = min(0, values.min() ?? 0), high = Swift.max(values.max() ?? 1, low + 1e-6)
        let range = (low: low, high: high, clipped: false)
        let scale = Swift.max(1, (64 + Swift.max(h, w) - 1) / Swift.max(h, w))
        let overlay = HeatmapOverlay(colormap: settings.colormap, alpha: 0.6, minimumSide: 160)
        let columns = Int(Double(c).squareRoot().rounded(.up)), pad = 2

        let made: [Result<PlacedIcon, Error>] = Parallel.mapChunks(c) { r in
            Result {
                let act = ranked[r], ch = act.channel
                let map = Array(values[(ch * h * w)..<((ch + 1) * h * w)])
                let icon = colored(map, width: w, height: h, scale: scale, low: low, high: high, colormap: settings.colormap)
                let id = String(format: "c%04d", ch)
                let onInput = try Image(width: w, height: h, channels: 1, pixels: map).resized(width: settings.input.width, height: settings.input.height)
                let thumb = try overlay.render(image: settings.input, map: onInput.pixels, range: range, magnitude: false)
                try folder.write(try ImageCodec.encodePNG(thumb), to: "maps/\(id).png")
                var iconPath = "maps/\(id).png"
                if let source = settings.galleryIcons[ch] {
                    guard let bytes = FileManager.default.contents(atPath: source) else {
                        throw AttributionError.invalidOption("gallery icon \(source) cannot be read")
                    }
                    try folder.write(Array(bytes), to: "vis/\(id).png")
                    iconPath = "vis/\(id).png"
                }
                let cell = AtlasIndex.Cell(x: r % columns, y: r / columns, n: 1, samples: [.init(path: "input.png", thumb: "maps/\(id).png")],
                                           channel: ch, objective: "\(settings.layer):\(ch)", label: "rank \(r + 1)", icon: iconPath,
                                           value: Double(act.value(settings.statistic)))
                return PlacedIcon(image: icon, cell: cell)
            }
        }
        let icons = try made.map { try $0.get() }
        try folder.write(try ImageCodec.encodePNG(settings.input.converted(to: .rgb)), to: "input.png")
        var recorded = settings.recorded
        recorded["statistic"] = .string(settings.statistic.rawValue)
        recorded["colormap"] = .string(settings.colormap.name.rawValue)
        recorded["range"] = .string("\(HeatmapOverlay.format(low))…\(HeatmapOverlay.format(high)) (one scale for all channels)")
        recorded["channels"] = .int(c)
        recorded["map"] = .string("\(w)×\(h)")
        let index = AtlasIndex(kind: .activations, title: settings.title, model: settings.model, layer: settings.layer,
                               settings: recorded)
        let layout = GridLayout(id: "channels", label: "\(c) channels by \(settings.statistic.rawValue)", columns: columns,
                                rows: (c + columns - 1) / columns, cellSize: Swift.max(h, w) * scale + 2 * pad, padding: pad,
                                background: RGB8(hex: "#111111") ?? .black, format: .fastPNG)
        let tiles = folder.tilesDirectory(gridId: layout.id)
        if FileManager.default.fileExists(atPath: tiles) { try? FileManager.default.removeItem(atPath: tiles) }
        return try Assembly.writeFolder(index, grids: [(layout, icons)], to: folder.path)
    }

    /// The map in the colormap over [low, high], scaled up `scale`× by pixel repetition.
    static func colored(_ map: [Float], width w: Int, height h: Int, scale s: Int, low: Float, high: Float, colormap: Colormap) -> Image {
        var image = Image(width: w * s, height: h * s, channels: 3)
        let (W, plane) = (w * s, w * s * h * s)
        for y in 0..<(h * s) {
            for x in 0..<W {
                let col = colormap.color((map[(y / s) * w + x / s] - low) / (high - low))
                image.pixels[y * W + x] = col.r; image.pixels[plane + y * W + x] = col.g; image.pixels[2 * plane + y * W + x] = col.b
            }
        }
        return image
    }
}
