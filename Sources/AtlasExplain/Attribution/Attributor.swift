/// `Attributor`: attribution maps for a batch of preprocessed images — one forward and one backward pass per
/// target class rank (per integration step for integrated gradients), every image of the batch at once.
import AtlasCore
import AtlasImage
import AtlasNet
import Foundation

/// Maps of one batch, for one target per image.
public struct AttributionResult: @unchecked Sendable {
    /// `[N, H, W]` at the network input's resolution (Grad-CAM upsampled bilinearly); see `AttributionMethod`.
    public var maps: Tensor
    /// The class each map explains.
    public var classes: [Int]
    /// Grad-CAM: `[N, h, w]` at the layer's resolution; nil for the other methods.
    public var layerMaps: Tensor?
    /// Integrated gradients: logit(x) − logit(x₀) of each image's class, which the map sums to approximately.
    public var logitDelta: [Float]?
}

public final class Attributor {
    public let network: Network
    public let options: AttributionOptions
    /// The value whose entries are the class scores: the first output, or the input of the Softmax producing it.
    public let logits: String
    /// Grad-CAM's value name (resolved), nil for the other methods.
    public let layer: String?
    let preprocess: Preprocess

    /// Checks the options against the network at `inputShape` (`[N, C, H, W]`, planned at batch N: a model exported
    /// with a fixed batch needs its own). `preprocess` maps [0, 1] pixels to network inputs (for the black and blur
    /// baselines).
    public init(network: Network, options: AttributionOptions, preprocess: Preprocess, inputShape: [Int]) throws {
        guard inputShape.count == 4 else { throw AttributionError.model("attribution needs an image input [N, C, H, W], got \(inputShape)") }
        guard (1...4096).contains(options.steps) else { throw AttributionError.invalidOption("--steps must be 1…4096") }
        self.network = network
        self.options = options
        self.preprocess = preprocess
        self.logits = try Attributor.logitsValue(network)
        let plan = try network.plan(for: inputShape)
        if let e = plan.errors[logits] { throw e }
        if options.method == .gradCAM {
            let name = try options.layer.map { try network.resolve($0) } ?? Attributor.defaultCAMLayer(plan, network: network)
            if let e = plan.errors[name] { throw e }
            guard let s = plan.shapes[name], s.count == 4, s[2] * s[3] > 1 else {
                throw AttributionError.invalidOption("Grad-CAM needs a layer with spatial extent [N, C, H, W]; \(options.layer ?? name) has shape \(plan.shapes[name] ?? [])")
            }
            layer = name
        } else {
            layer = nil
        }
    }

    /// The first graph output, or the input of the Softmax that produces it (attributions explain logits).
    public static func logitsValue(_ network: Network) throws -> String {
        guard let out = network.graph.outputs.first?.name else { throw AttributionError.model("the model has no output") }
        if let node = network.graph.nodes.first(where: { $0.outputs.first == out }), node.opType == "Softmax",
           let input = node.input(0) {
            return input
        }
        return out
    }

    /// The last value, in execution order, with a 4-D shape whose spatial extent is more than one position.
    public static func lastSpatialLayer(_ plan: Plan, names: LayerNames) throws -> String {
        let rows = plan.layers(names: names).filter { r in
            guard r.error == nil, let s = r.shape else { return false }
            return s.count == 4 && s[2] * s[3] > 1
        }
        guard let last = rows.last else { throw AttributionError.model("the model has no layer with spatial extent for Grad-CAM") }
        return last.value
    }

    /// Grad-CAM's default layer. CNNs: the last layer with spatial extent. Transformers (layers with token-grid views,
    /// `TokenLayout`): the last view, so the map is on the patch grid; when the grid leaves out a class token, the
    /// last view before the last attention block's Softmax that is not one of its projections (a MatMul output),
    /// since after that Softmax only the class token reaches the output and the patch tokens' gradient is zero.
    public static func defaultCAMLayer(_ plan: Plan, network: Network) throws -> String {
        let rows = plan.layers(names: network.names)
        func producer(_ value: String) -> Node? { plan.graph.nodes.first { $0.outputs.first == value } }
        // The token-grid views with spatial extent: their row, name and the value they show.
        let views = rows.indices.compactMap { i -> (row: Int, value: String, raw: String)? in
            let r = rows[i]
            guard r.op == TokenLayout.viewOp, r.error == nil, let s = r.shape, s.count == 4, s[2] * s[3] > 1,
                  let raw = producer(r.value)?.input(0) else { return nil }
            return (i, r.value, raw)
        }
        guard let last = views.last else { return try lastSpatialLayer(plan, names: network.names) }
        let classToken = views.contains { v in plan.shapes[v.raw].map { $0.count == 3 && TokenLayout.grid(tokens: $0[1])?.skip == 1 } ?? false }
        guard classToken, let site = Attention.sites(plan.graph).last,
              let softmax = rows.firstIndex(where: { $0.value == site.probabilities }),
              let before = views.last(where: { $0.row < softmax && producer($0.raw)?.opType != "MatMul" }) else { return last.value }
        return before.value
    }

    /// Scores (`[N, classes]`, pre-softmax) of a batch.
    public func scores(_ x: Tensor) throws -> Tensor {
        let values = try Conv2D.withAccurateGradients { try network.forward(x, capture: [logits]) }
        guard let y = values[logits] else { throw AttributionError.model("no output") }
        return try flat(y, batch: x.shape[0])
    }

    /// Maps for `x` (`[N, C, H, W]`, preprocessed), explaining class `classes[n]` of image n, computed on the accurate
    /// convolution path (`Conv2D.withAccurateGradients`: the maps are gradients).
    public func attribute(_ x: Tensor, classes: [Int]) throws -> AttributionResult {
        try Conv2D.withAccurateGradients { try attributeBatch(x, classes: classes) }
    }

    private func attributeBatch(_ x: Tensor, classes: [Int]) throws -> AttributionResult {
        let n = x.shape[0]
        guard classes.count == n else { throw AttributionError.invalidOption("\(classes.count) classes for \(n) images") }
        switch options.method {
        case .saliency, .gradientTimesInput:
            let g = try inputGradient(x, classes: classes)
            let maps = options.method == .saliency ? Attributor.reduceChannels(g, nil, maxAbs: true)
                                                   : Attributor.reduceChannels(g, x, maxAbs: false)
            return AttributionResult(maps: maps, classes: classes)
        case .integratedGradients:
            return try integratedGradients(x, classes: classes)
        case .gradCAM:
            return try gradCAM(x, classes: classes)
        }
    }

    /// ∂ Σ_n logit[n, classes[n]] / ∂ x.
    func inputGradient(_ x: Tensor, classes: [Int]) throws -> Tensor {
        let values = try network.forward(x, capture: [logits], keepForBackward: true)
        guard let y = values[logits] else { throw AttributionError.model("no output") }
        return try network.backward(from: [logits: try seed(y, classes: classes)])
    }

    /// One-hot gradient seed shaped like the scores `y`.
    func seed(_ y: Tensor, classes: [Int]) throws -> Tensor {
        let n = y.shape[0], k = y.count / max(1, n)
        let s = Tensor(zeros: y.shape)
        for (i, c) in classes.enumerated() {
            guard (0..<k).contains(c) else { throw AttributionError.invalidOption("class \(c) is out of range: the model has \(k) classes (0…\(k - 1))") }
            s.data[i * k + c] = 1
        }
        return s
    }

    func flat(_ y: Tensor, batch: Int) throws -> Tensor {
        guard y.rank >= 2, y.shape[0] == batch, y.count / batch == y.shape[1] else {
            throw AttributionError.model("the model's output \(y.shape) is not [batch, classes]")
        }
        return y.reshaped([batch, y.shape[1]])
    }

    func integratedGradients(_ x: Tensor, classes: [Int]) throws -> AttributionResult {
        let x0 = try baseline(for: x)
        let diff = Tensor(zeros: x.shape)
        for i in 0..<x.count { diff.data[i] = x.data[i] - x0.data[i] }
        let total = Tensor(zeros: x.shape)
        let m = options.steps
        for step in 0..<m {
            let alpha = (Float(step) + 0.5) / Float(m)
            let xs = Tensor(zeros: x.shape)
            for i in 0..<x.count { xs.data[i] = x0.data[i] + alpha * diff.data[i] }
            let g = try inputGradient(xs, classes: classes)
            for i in 0..<x.count { total.data[i] += g.data[i] }
        }
        for i in 0..<total.count { total.data[i] /= Float(m) }
        let maps = Attributor.reduceChannels(total, diff, maxAbs: false)
        let y = try scores(x), y0 = try scores(x0), k = y.shape[1]
        let delta = classes.enumerated().map { i, c in y.data[i * k + c] - y0.data[i * k + c] }
        return AttributionResult(maps: maps, classes: classes, logitDelta: delta)
    }

    /// The reference input of integrated gradients for each image of `x`.
    public func baseline(for x: Tensor) throws -> Tensor {
        let b = Tensor(zeros: x.shape)
        switch options.baseline {
        case .zero: break
        case .black: try preprocess.apply(to: b)
        case .blur:
            let s = Double(min(x.shape[2], x.shape[3])) / 8
            Attributor.gaussianBlur(x, into: b, sigma: max(1, s))
        }
        return b
    }

    func gradCAM(_ x: Tensor, classes: [Int]) throws -> AttributionResult {
        guard let layer else { throw AttributionError.invalidOption("Grad-CAM needs a layer") }
        let values = try network.forward(x, capture: [logits, layer], keepForBackward: true)
        guard let y = values[logits], let a = values[layer] else { throw AttributionError.model("no output") }
        let grads = try network.backward(from: [logits: try seed(y, classes: classes)], at: [layer])
        guard let g = grads[layer] else { throw AttributionError.model("no gradient at \(layer)") }
        let (n, c, h, w) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        let cams = Tensor(zeros: [n, h, w])
        Parallel.forEach(n) { i in
            let out = cams.data + i * h * w
            for ch in 0..<c {
                let base = (i * c + ch) * h * w
                var alpha: Float = 0
                for p in 0..<h * w { alpha += g.data[base + p] }
                alpha /= Float(h * w)
                for p in 0..<h * w { out[p] += alpha * a.data[base + p] }
            }
            for p in 0..<h * w { out[p] = max(0, out[p]) }
        }
        let (H, W) = (x.shape[2], x.shape[3])
        let maps = Tensor(zeros: [n, H, W])
        for i in 0..<n {
            let small = try Image(width: w, height: h, channels: 1, pixels: Array(UnsafeBufferPointer(start: cams.data + i * h * w, count: h * w)))
            let big = try small.resized(width: W, height: H)
            big.pixels.withUnsafeBufferPointer { (maps.data + i * H * W).update(from: $0.baseAddress!, count: H * W) }
        }
        return AttributionResult(maps: maps, classes: classes, layerMaps: cams)
    }

    /// `[N, C, H, W]` → `[N, H, W]`: max_c |g| (`maxAbs`), or Σ_c g·x (Σ_c g when `x` is nil).
    static func reduceChannels(_ g: Tensor, _ x: Tensor?, maxAbs: Bool) -> Tensor {
        let (n, c, plane) = (g.shape[0], g.shape[1], g.shape[2] * g.shape[3])
        let out = Tensor(zeros: [n, g.shape[2], g.shape[3]])
        Parallel.forEach(n) { i in
            let o = out.data + i * plane
            for ch in 0..<c {
                let gp = g.data + (i * c + ch) * plane
                if maxAbs {
                    for p in 0..<plane { o[p] = max(o[p], abs(gp[p])) }
                } else if let x {
                    let xp = x.data + (i * c + ch) * plane
                    for p in 0..<plane { o[p] += gp[p] * xp[p] }
                } else {
                    for p in 0..<plane { o[p] += gp[p] }
                }
            }
        }
        return out
    }

    /// Separable Gaussian blur of every plane, edges clamped (weights renormalised), radius 3σ.
    static func gaussianBlur(_ x: Tensor, into out: Tensor, sigma: Double) {
        let (h, w) = (x.shape[2], x.shape[3])
        let r = max(1, Int((3 * sigma).rounded(.up)))
        let kernel = (-r...r).map { Float(Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        Parallel.forEach(x.shape[0] * x.shape[1]) { p in
            let src = x.data + p * h * w, dst = out.data + p * h * w
            var tmp = [Float](repeating: 0, count: h * w)
            for y in 0..<h {
                for xx in 0..<w {
                    var s: Float = 0, ws: Float = 0
                    for k in -r...r where (0..<w).contains(xx + k) { s += kernel[k + r] * src[y * w + xx + k]; ws += kernel[k + r] }
                    tmp[y * w + xx] = s / ws
                }
            }
            for y in 0..<h {
                for xx in 0..<w {
                    var s: Float = 0, ws: Float = 0
                    for k in -r...r where (0..<h).contains(y + k) { s += kernel[k + r] * tmp[(y + k) * w + xx]; ws += kernel[k + r] }
                    dst[y * w + xx] = s / ws
                }
            }
        }
    }
}
