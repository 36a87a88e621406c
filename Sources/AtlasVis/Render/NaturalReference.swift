import AtlasCore

extension Renderer {
    /// The largest value each objective reaches on natural images `[M, C, S, S]` (values in [0, 1], S the icon
    /// size), measured as icons are scored (`RenderResult.scores`: no transforms; upsampled and preprocessed as in
    /// `options`), so that `score / best` says how an icon compares with the best natural exemplar of its unit.
    /// One forward pass per `batch` images serves every objective. Objectives that do not apply to an image
    /// (e.g. a neuron position outside a smaller layer) count as −∞.
    public func bestNaturalValues(_ objectives: [Objective], images: Tensor, options: RenderOptions,
                                  batch: Int = 8) throws -> [Double] {
        var best = [Double](repeating: -.infinity, count: objectives.count)
        let layers = Set(objectives.flatMap(\.layers))
        var request: [String: String] = [:]
        for l in layers { request[l] = try valueName(l) }
        let m = images.shape[0]
        for start in stride(from: 0, to: m, by: max(1, batch)) {
            let part = images.slice(batch: start..<min(m, start + max(1, batch))).copy()
            let resize = options.upsample.map { BilinearUpsample(from: (part.shape[2], part.shape[3]), to: ($0, $0)) }
            let x = options.preprocess.forward(resize?.forward(part) ?? part)
            let out = layers.isEmpty ? [:] : try network.forward(x, capture: Set(request.values))
            var activations: [String: Tensor] = [:]
            for l in layers { activations[l] = out[request[l]!] }
            for (k, objective) in objectives.enumerated() {
                guard let r = try? objective.evaluate(activations: activations, image: part) else { continue }
                for v in r.values where v.isFinite { best[k] = max(best[k], v) }
            }
        }
        return best
    }
}
