import ArgumentParser
import AtlasExplain
import AtlasMap
import AtlasNet
import AtlasOutput
import Foundation

/// `atlas graph`: the network as a node-link diagram (SVG or HTML), laid out by Graphviz.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Draw the network as a node-link diagram: operators with output shapes and parameters, tensors as edges.",
        discussion: """
        One box per operator (op, name or alias, output shape at --size, parameter count), the inputs and outputs \
        as grey terminals, one arrow per tensor with its shape; top to bottom, parallel branches side by side. \
        The layout is made by Graphviz's dot (Debian/Ubuntu: apt-get install -y graphviz) when it is installed, \
        else by Atlas's own simpler layered layout (--layout builtin forces it; --layout dot requires Graphviz \
        and exits with 69 without it).

        --out decides the form: .svg (the drawing), .html (the drawing in a page; with --gallery, layers that have \
        a gallery link to it) or .dot (the Graphviz source). --gallery takes gallery output folders (atlas gallery \
        --out) or folders that contain them; each links the layer named in its atlas.json (a class gallery links \
        the model output).

          atlas graph Assets/fashion-mnist/fashion_cnn.onnx --out fashion.svg
          atlas graph googlenet.onnx --gallery galleries/ --out googlenet.html
        """
    )

    @Argument(help: "The ONNX model.") var model: String
    @Option(help: "Output file: .svg, .html or .dot.") var out: String
    @Option(help: "Gallery folders (or folders of them) to link layers to; repeatable.") var gallery: [String] = []
    @Option(help: "Layout: auto (Graphviz dot when installed, else the built-in one), dot, or builtin.") var layout: GraphLayoutName = .auto
    @Option(help: "Input size for the shapes (default: the model's declared size, model.json's, or 224).") var size: Int?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        let ext = (out as NSString).pathExtension.lowercased()
        guard ["svg", "html", "htm", "dot", "gv"].contains(ext) else {
            throw CommandFailure(message: "--out '\(out)': give a .svg, .html or .dot file", code: AtlasExit.usage)
        }
        if let size, !(1...8192).contains(size) { throw CommandFailure(message: "--size must be 1…8192", code: AtlasExit.usage) }
        let net = try ModelSetup.loadNetwork(model)
        let shape = try ModelSetup.plannedInputShape(net, modelPath: model, size: size)
        let name = (model as NSString).lastPathComponent
        let diagram = try NetworkDiagram(network: net, inputShape: shape, title: "\(name) · input \(NetworkDiagram.shapeText(shape))")
        let links = try galleryLinks(net)
        let dot = diagram.dot(links: links)
        let text: String
        switch ext {
        case "dot", "gv": text = dot
        case "svg": text = try drawing(diagram, dot: dot, links: links)
        default:
            let svg = try drawing(diagram, dot: dot, links: links)
            let linked = links.isEmpty ? "" : " \(links.count) layer(s) with a gallery are outlined in blue: click one to open it."
            text = Graphviz.page(svg: svg, title: name, note: "\(diagram.nodes.count) nodes, \(diagram.edges.count) tensors; hover a box for its value name.\(linked)")
        }
        try Attribute.write(Array(text.utf8), to: out)
        note("wrote \(out): \(diagram.nodes.count) nodes, \(diagram.edges.count) edges\(links.isEmpty ? "" : ", \(links.count) gallery links")", quiet: global.quiet)
    }

    /// The SVG drawing: Graphviz's layout, or the built-in one (--layout builtin, or auto without dot).
    func drawing(_ diagram: NetworkDiagram, dot: String, links: [String: String]) throws -> String {
        let dotPath = layout == .builtin ? nil : Graphviz.dotPath()
        if dotPath == nil && layout == .auto {
            note("Graphviz 'dot' not found: using the built-in layout (apt-get install -y graphviz for a finer one)", quiet: global.quiet)
        }
        if dotPath == nil && layout != .dot { return LayeredLayout.svg(diagram, links: links) }
        return try Graphviz.svg(fromDOT: dot, dot: dotPath)
    }

    /// Value name → gallery index.html, relative to the output file's folder.
    func galleryLinks(_ net: Network) throws -> [String: String] {
        var links: [String: String] = [:]
        let base = URL(fileURLWithPath: out).deletingLastPathComponent().standardizedFileURL.path
        for dir in gallery {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CommandFailure(message: "--gallery '\(dir)' is not a folder", code: AtlasExit.noInput)
            }
            var folders = [dir]
            if !FileManager.default.fileExists(atPath: dir + "/atlas.json") {
                folders = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { "\(dir)/\($0)" }
                    .filter { FileManager.default.fileExists(atPath: $0 + "/atlas.json") }
                if folders.isEmpty { note("--gallery \(dir): no atlas.json in it or its subfolders", quiet: global.quiet) }
            }
            for folder in folders {
                guard let data = FileManager.default.contents(atPath: folder + "/atlas.json"), let index = try? AtlasIndex.decode(data),
                      index.kind == .gallery else { continue }
                let value = index.layer.flatMap { try? net.resolve($0) } ?? (index.layer == nil ? try? Attributor.logitsValue(net) : nil)
                guard let value else { note("--gallery \(folder): layer \(index.layer ?? "?") is not in this model", quiet: global.quiet); continue }
                links[value] = GraphCommand.relative(URL(fileURLWithPath: folder + "/index.html").standardizedFileURL.path, from: base)
            }
        }
        return links
    }

    /// `path` relative to the folder `base` (both absolute).
    static func relative(_ path: String, from base: String) -> String {
        let a = path.split(separator: "/"), b = base.split(separator: "/")
        var common = 0
        while common < min(a.count, b.count) && a[common] == b[common] { common += 1 }
        return (Array(repeating: "..", count: b.count - common) + a[common...].map(String.init)).joined(separator: "/")
    }
}
