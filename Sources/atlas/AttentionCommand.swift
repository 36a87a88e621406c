import ArgumentParser
import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasNet
import Foundation

/// `atlas attention`: where a vision transformer looks — per block and head, the attention of the class token (or a
/// patch) over the image's patches, and attention rollout, written like `atlas attribute`.
struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Attention maps of vision transformers: per layer and head, and attention rollout, over each image's patches.",
        discussion: """
        Finds the attention of every block in the graph (the Softmax whose output is multiplied with the values, \
        by MatMul or Einsum) and prints the nodes it uses. For each image, each chosen layer and head, it shows \
        how much the query token attends to each patch: that row of the [tokens × tokens] probabilities, class \
        token column left out, on the patch grid (the map of a class-token query then sums to 1 minus the class \
        token's attention to itself). --rollout adds attention rollout (Abnar & Zuidema 2020) through the deepest \
        chosen layer: per layer ½·(mean over heads) + ½·identity, rows renormalized, multiplied from the first \
        layer on: how much each patch's input reaches the query's output.

        --query: class (the default when the model has a class token, as ViT), a patch index (row-major from the \
        top left of the layer's token grid, counted without the class token; Swin's stages have grids of their \
        own sizes), or mean (the mean over all patch queries: the attention each patch receives on average; the \
        default for models without a class token). --layer: a layer number (0 = the first attention site), a \
        Softmax node or value name, or a module path as torchvision names modules, such as \
        encoder.layers.encoder_layer_11 or features.1.0.attn (a path names every site inside it, e.g. features.1 \
        a Swin stage); default every layer. --head H: only head H; --mean-heads: only the mean \
        over heads; default every head and the mean.

        Windowed attention (Swin's windows, MaxViT's blocks and grids: the batch axis holds windows) is mapped \
        onto the token grid its windows cover, as the graph places them: the partition, torch.roll's shift and \
        padding are found by running the data movement between the stage's grid and the attention on a grid of \
        position codes, so a patch query shows its row of its own window's attention at the patches' real places \
        (zero outside the window) and the mean query averages every patch's row (within its window) over the \
        whole grid. Sites whose windows the graph does not show that way are listed and left out, with the \
        reason; naming one with --layer, or a model with no mappable site, is refused (exit 64). \
        Rollout multiplies the global layers only. A model without attention (a CNN) is refused (exit 65). A \
        token model takes only the input size it was exported at (a wrong --size is exit 65 naming the node).

        OUT gets, per image, NNNN-name.input.png (what the model saw), NNNN-name.Lnn.hH.png / .Lnn.mean.png (layer nn, head H) / \
        .rollout.png (overlay on the grey input, patches as blocks, colormap legend with the value range), the \
        raw float32 maps NNNN-name.*.npy on the patch grid (h × w), and an index.html contact sheet that opens \
        offline. Unreadable images are skipped and listed. The maps are the same bytes at any thread count.

        Long runs resume as atlas attribute's do: OUT/job.json records the settings (model by SHA-256, query, \
        layers, heads, rollout, colormap, size, preprocessing, labels) and each finished image gets NNNN-name.json, \
        written after its pictures and maps. Rerunning the same command loads the finished images and computes the \
        rest, giving the same files as an uninterrupted run (for the same --batch); a folder made with other \
        settings is refused (exit 65, naming the settings that differ).

          atlas attention vit_b_16.onnx photos/ --rollout --out attention/
          atlas attention vit_b_16.onnx cat.jpg --layer 11 --mean-heads --query 97 --json --out cat-attention/
        """
    )

    @Argument(help: "The ONNX model (a vision transformer).") var model: String
    @Argument(help: "Images, folders of images, or IDX image files.") var images: [String] = []
    @Option(help: "Layer: number (from 0), Softmax node or value name, or module path such as features.1.0.attn (default: every layer).") var layer: String?
    @Option(help: "Only this head (from 0).") var head: Int?
    @Flag(help: "Only the mean over heads.") var meanHeads = false
    @Flag(help: "Also write attention rollout through the deepest chosen layer.") var rollout = false
    @Option(help: "Query token: class, a patch index (row-major on the layer's token grid), or mean (default: class when the model has one, else mean).") var query: String?
    @OptionGroup var input: ModelInputOptions
    @OptionGroup var heatmap: HeatmapImageOptions
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary (sites used, per image its maps and best classes, skipped files) on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if images.isEmpty { throw ValidationError("give images, folders or IDX files") }
        if head != nil && meanHeads { throw ValidationError("give --head or --mean-heads, not both") }
        if let head, head < 0 { throw ValidationError("--head must be ≥ 0") }
        if let query, AttentionQuery(query) == nil { throw ValidationError("--query must be class, mean or a patch index ≥ 0") }
    }

    func run() throws {
        try global.apply()
        ImageLimits.current = ImageLimits(maxPixels: heatmap.maxPixels)
        let net = try ModelSetup.loadNetwork(model, digest: true)
        let setup = try ModelSetup(network: net, modelPath: model, input: input, labelsPath: heatmap.labels)
        let mapper = try inContext(model) {
            try AttentionMapper(network: net, inputShape: [1, setup.channels, setup.size, setup.size], query: query.flatMap(AttentionQuery.init))
        }
        let chosen = try chosenLayers(mapper)
        try mapper.check(chosen)
        if rollout { _ = try mapper.rolloutLayers(through: chosen.map(\.index)) }
        if let head, let l = chosen.first(where: { head >= $0.heads }) {
            throw CommandFailure(message: "--head \(head) is out of range: layer \(l.index) has \(l.heads) heads (0…\(l.heads - 1))", code: AtlasExit.usage)
        }
        describe(mapper, chosen: chosen)
        try Attribute.makeFolder(out)
        let source = try ImageSource(inputs: images, channels: setup.channels, limit: heatmap.limit)
        let job = AttentionJob(query: mapper.query.description, layers: chosen.map(\.index), head: head, meanHeads: meanHeads, rollout: rollout)
        let resuming = try ImageJob.prepare(try ImageJobInputs(model: model, setup: setup, colormap: heatmap.colormap), job, kind: "attention",
                                            out: out)
        let writer = AttentionWriter(files: OverlayFiles(out: out, overlay: HeatmapOverlay(colormap: Colormap(heatmap.colormap))), setup: setup,
                                     layers: chosen, head: head, meanHeads: meanHeads, rollout: rollout)
        let batch = setup.runnableBatch(net, requested: heatmap.batch, quiet: global.quiet)
        let progress = ProgressBar("attention", total: source.total, unit: "img", quiet: global.quiet || json)
        let start = Date()
        let (records, failed, reused) = try ImageJob.run(source, batch: batch, preprocessor: setup.preprocessor, out: out, resuming: resuming,
                                                         progress: progress) { tensor, items in
            let maps = try mapper.maps(tensor, layers: chosen.map(\.index), rollout: rollout)
            return try writer.write(tensor, maps, items: items, names: items.map { source.name($0) })
        }
        progress.finish()
        let skipped = source.inputProblems + failed.map { SkippedFile(path: source.name($0.item), error: $0.error) }
        let seconds = Date().timeIntervalSince(start)
        let name = (model as NSString).lastPathComponent
        let settings: [(String, String)] = [
            ("model", name), ("query", mapper.query.description), ("layers", chosen.map { "\($0.index)" }.joined(separator: ",")),
            ("heads", head.map { "\($0)" } ?? (meanHeads ? "mean" : "all + mean")), ("rollout", rollout ? "yes" : "no"),
            ("grid", "\(mapper.gridHeight)×\(mapper.gridWidth)\(mapper.classTokens > 0 ? " + class token" : "")"),
            ("preprocess", setup.choice.summary), ("size", "\(setup.size)"), ("colormap", heatmap.colormap.rawValue),
        ]
        let page = ContactSheet.html(title: "Attention · query \(mapper.query) · \(name)", settings: settings,
                                     entries: records.map(\.entry), skipped: skipped.map { ($0.path, $0.error.reason) })
        try Attribute.write(Array(page.utf8), to: out + "/index.html")
        try report(records, reused: reused, mapper: mapper, chosen: chosen, skipped: skipped, seconds: seconds, settings: settings)
    }

    /// The layers `--layer` names (all mapped layers without it): a site's number, its Softmax node or value, its
    /// value product, or a module path as torchvision names modules (`encoder.layers.encoder_layer_11`,
    /// `features.1.0.attn`, `features.1`: every site inside that module).
    func chosenLayers(_ mapper: AttentionMapper) throws -> [AttentionLayer] {
        guard let layer else { return mapper.layers }
        let all = Attention.sites(mapper.network.graph)
        let matches = all.indices.filter { i in
            let s = all[i]
            let module = LayerNames.modulePath(s.softmaxNode) ?? ""
            return "\(i)" == layer || s.softmaxNode == layer || s.probabilities == layer || s.valueProduct == layer
                || module == layer || module.hasPrefix(layer + ".")
        }
        guard !matches.isEmpty else {
            let list = all.enumerated().map { "\($0.offset): \($0.element.softmaxNode)" }.joined(separator: "; ")
            throw CommandFailure(message: "--layer \(layer) names no attention site; the sites are \(list)", code: AtlasExit.usage)
        }
        if let u = mapper.unmapped.first(where: { u in matches.contains { all[$0] == u.site } }) {
            throw CommandFailure(message: "--layer \(layer): \(u.site.softmaxNode) \(u.shape) is not mapped onto the image: \(u.reason)",
                                 code: AtlasExit.usage)
        }
        return mapper.layers.filter { matches.contains($0.index) }
    }

    /// Prints the sites used (and those left out) on stderr.
    func describe(_ mapper: AttentionMapper, chosen: [AttentionLayer]) {
        let grid = "\(mapper.tokens) tokens = \(mapper.classTokens > 0 ? "class token + " : "")\(mapper.gridHeight)×\(mapper.gridWidth) patches"
        note("attention: \(mapper.layers.count) site(s), \(grid), query \(mapper.query) (Softmax → value product):", quiet: global.quiet)
        for l in mapper.layers {
            let mark = chosen.contains { $0.index == l.index } ? "" : "  (not chosen)"
            let windows = l.windows.map { ", windowed: \($0.summary)" } ?? ""
            note("  layer \(l.index): \(l.site.softmaxNode) → \(l.site.valueProduct), \(l.heads) heads\(windows)\(mark)", quiet: global.quiet)
        }
        for u in mapper.unmapped { note("  left out: \(u.site.softmaxNode) \(u.shape): \(u.reason)", quiet: global.quiet) }
    }

    func report(_ records: [AttentionWriter.Record], reused: Int, mapper: AttentionMapper, chosen: [AttentionLayer], skipped: [SkippedFile],
                seconds: Double, settings: [(String, String)]) throws {
        if json {
            let summary: [String: Any] = [
                "out": out, "index": out + "/index.html", "images": records.count, "reused": reused, "seconds": seconds,
                "settings": Dictionary(settings, uniquingKeysWith: { a, _ in a }), "query": mapper.query.description,
                "grid": [mapper.gridHeight, mapper.gridWidth], "tokens": mapper.tokens, "class_tokens": mapper.classTokens,
                "sites": mapper.layers.map { l -> [String: Any] in
                    var site: [String: Any] = ["layer": l.index, "softmax": l.site.softmaxNode, "probabilities": l.site.probabilities,
                                               "value_product": l.site.valueProduct, "heads": l.heads, "grid": [l.gridHeight, l.gridWidth],
                                               "chosen": chosen.contains { $0.index == l.index }]
                    if let w = l.windows { site["windows"] = ["count": w.windows, "tokens": w.tokens, "grid_value": w.gridValue] as [String: Any] }
                    return site
                },
                "unmapped": mapper.unmapped.map { ["softmax": $0.site.softmaxNode, "shape": $0.shape, "reason": $0.reason] as [String: Any] },
                "results": records.map(\.json), "skipped": skipped.map { ["file": $0.path, "reason": $0.error.description] },
            ]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            let resumed = reused > 0 ? " (\(reused) reused from an earlier run)" : ""
            note("\(records.count) images\(resumed) in \(String(format: "%.2f", seconds)) s → \(out)/index.html", quiet: global.quiet)
        }
        if !skipped.isEmpty && !json {
            note("skipped \(skipped.count) file(s):")
            for s in skipped { note("  \(s.path): \(s.error.reason)") }
        }
    }
}
