import ArgumentParser
import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasMap
import AtlasNet
import AtlasOutput
import Foundation

/// `atlas activations`: what a layer sees in one image, as a ranked, zoomable grid of channel maps.
struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one image's activation maps at a layer as a zoomable grid, channels ranked by how strongly they fire.",
        discussion: """
        Runs the model on IMAGE (a PNG/JPEG file, or one image of an IDX stack as FILE#INDEX) up to --layer and \
        writes every channel's map, coloured on one scale shared by all channels (so strengths compare), into a \
        grid ordered by --rank (max: the channel's largest activation; mean: its average), best first, row by \
        row. The folder is browsable like a gallery: tiles, atlas.json (kind "activations"; each cell records \
        its channel, its rank statistic as value and the channel objective), index.html. Hovering a cell shows \
        its map over the input image; with --gallery (an atlas gallery folder of the same layer) the panel \
        shows the channel's feature visualization too, copied into OUT/vis/.

          atlas activations Assets/fashion-mnist/fashion_cnn.onnx 'Assets/fashion-mnist/t10k-2000-images-idx3-ubyte.gz#0' \\
              --layer features.conv3.0 --out acts/
          atlas activations googlenet.onnx cat.jpg --layer inception4c --gallery gallery-4c/ --out cat-4c/
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @Argument(help: "The image (file, or IDX_FILE#INDEX).") var image: String
    @Option(help: "Layer (value name or alias) whose channels to show.") var layer: String
    @Option(help: "Rank channels by their maximum or mean activation.") var rank: ChannelStatistic = .max
    @Option(help: "A gallery folder of the same layer (atlas gallery --out) to link channels to.") var gallery: String?
    @Option(help: "Colormap.") var colormap: Colormap.Name = .inferno
    @OptionGroup var input: ModelInputOptions
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary (channels in rank order with their statistics) on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        let statistic = rank, cmap = colormap
        let net = try ModelSetup.loadNetwork(model, digest: true)
        let setup = try ModelSetup(network: net, modelPath: model, input: input, labelsPath: nil)
        let value: String
        value = try inContext("--layer") { try net.resolve(layer) }
        let picture = try loadImage(channels: setup.channels)
        let x = try setup.preprocessor(picture)
        let shown = x.copy()
        try setup.choice.preprocess.invert(shown)
        let input = try Image(tensor: shown, index: 0)
        let clamped = try Image(width: input.width, height: input.height, channels: input.channels, pixels: input.pixels.map { min(1, max(0, $0)) })
        guard let a = try net.forward(x, capture: [value])[value] else { throw CommandFailure(message: "no value for \(layer)", code: AtlasExit.internalError) }
        guard a.rank == 4 || a.rank == 2 else {
            throw CommandFailure(message: "--layer \(layer) has shape \(a.shape); need [N, C, H, W] or [N, C]", code: AtlasExit.usage)
        }
        let icons = try galleryIcons(net, value: value, channels: a.shape[1])
        let sha = SHA256.hex(file: model)
        let settings = ActivationGrid.Settings(
            layer: layer, statistic: statistic, colormap: Colormap(cmap), input: clamped, galleryIcons: icons,
            model: .init(file: (model as NSString).lastPathComponent, sha256: sha), title: "\(layer) on \((image as NSString).lastPathComponent)",
            recorded: ["image": .string((image as NSString).lastPathComponent), "preprocess": .string(setup.choice.summary),
                       "size": .int(setup.size), "gallery": gallery.map { .string(($0 as NSString).lastPathComponent) } ?? .null])
        let index: AtlasIndex
        index = try ActivationGrid.write(a, settings: settings, to: out)
        let cells = index.grids.first?.cells ?? []
        if json {
            let rows: [[String: Any]] = cells.map { ["channel": $0.channel ?? -1, "value": $0.value ?? 0, "x": $0.x, "y": $0.y, "icon": $0.icon ?? ""] }
            let summary: [String: Any] = ["out": out, "layer": layer, "shape": a.shape, "statistic": statistic.rawValue,
                                          "index": out + "/atlas.json", "viewer": out + "/index.html", "channels": rows]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            let best = cells.prefix(5).map { "\($0.channel ?? -1) (\(HeatmapOverlay.format(Float($0.value ?? 0))))" }.joined(separator: ", ")
            note("wrote \(out): \(cells.count) channels of \(layer) \(a.shape), by \(statistic.rawValue): \(best)…", quiet: global.quiet)
            note("browse it: open \(out)/index.html", quiet: global.quiet)
        }
    }

    /// The image file, or item INDEX of an IDX stack named FILE#INDEX.
    func loadImage(channels: Int) throws -> Image {
        let options = DecodeOptions(layout: channels == 1 ? .gray : .rgb)
        if let hash = image.lastIndex(of: "#"), !FileManager.default.fileExists(atPath: image) {
            let path = String(image[..<hash])
            guard let i = Int(image[image.index(after: hash)...]), i >= 0 else {
                throw CommandFailure(message: "'\(image)': expected FILE#INDEX with a number", code: AtlasExit.usage)
            }
            guard FileManager.default.fileExists(atPath: path) else { throw CommandFailure(message: "'\(path)' not found", code: AtlasExit.noInput) }
            let stack = try IDX.images(path, limit: i + 1)
            guard i < stack.count else { throw CommandFailure(message: "'\(path)' has \(stack.count) images; no #\(i)", code: AtlasExit.usage) }
            return stack[i].converted(to: options.layout ?? .rgb)
        }
        return try ImageCodec.decode(file: image, options: options)
    }

    /// Channel → icon file of the gallery folder, after checking that it shows the same layer.
    func galleryIcons(_ net: Network, value: String, channels: Int) throws -> [Int: String] {
        guard let gallery else { return [:] }
        guard let data = FileManager.default.contents(atPath: gallery + "/atlas.json") else {
            throw CommandFailure(message: "--gallery \(gallery): no atlas.json (make one with atlas gallery --layer \(layer) --out \(gallery))", code: AtlasExit.noInput)
        }
        let index = try AtlasIndex.decode(data)
        guard index.kind == .gallery, let l = index.layer, (try? net.resolve(l)) == value else {
            throw CommandFailure(message: "--gallery \(gallery) shows \(index.layer ?? "classes"), not \(layer)", code: AtlasExit.usage)
        }
        var icons: [Int: String] = [:]
        for cell in index.grids.first?.cells ?? [] {
            if let ch = cell.channel, let icon = cell.icon, ch < channels { icons[ch] = gallery + "/" + icon }
        }
        return icons
    }
}
