import AtlasImage
import AtlasVis

/// Render options from the command-line values shared by `gallery` and `map`, with usage errors for bad text.
/// Returns the options and where the preprocessing came from (e.g. a model.json sidecar).
func makeRenderOptions(param: String, size: Int, steps: Int, lr: Float?, upsample: Int?, transforms: String,
                       preprocess: String, model: String) throws -> (RenderOptions, String) {
    guard let kind = ParamKind(rawValue: param) else {
        throw CommandFailure(message: "--param '\(param)': expected fft, pixel or maco", code: AtlasExit.usage)
    }
    var options = RenderOptions(param: kind, size: size, steps: steps, learningRate: lr ?? RenderOptions.defaultLearningRate(for: kind),
                                upsample: upsample)
    do { options.transforms = try parseTransforms(transforms, param: kind) } catch {
        throw CommandFailure(message: "--transforms: \(error)", code: AtlasExit.usage)
    }
    do {
        let (p, source) = try Preprocess.parse(preprocess, modelPath: model)
        options.preprocess = p
        return (options, source)
    } catch let e as PreprocessSpecError {
        if case .sidecar = e { throw CommandFailure(message: "\(e)", code: AtlasExit.dataError) }
        throw CommandFailure(message: "--preprocess: \(e)", code: AtlasExit.usage)
    }
}

/// `--transforms`: `auto` is the parameterization's own (`maco` for MACO, else `standard`).
func parseTransforms(_ text: String, param: ParamKind) throws -> TransformPipeline {
    text == "auto" ? TransformPipeline.defaults(for: param) : try TransformPipeline.parse(text)
}

/// `--format jpg|png` (tiles of a pyramid).
func parseTileFormat(_ text: String) throws -> TileFormat {
    switch text.lowercased() {
    case "jpg", "jpeg": return .defaultJPEG
    case "png": return .fastPNG
    default: throw CommandFailure(message: "--format '\(text)': expected jpg or png", code: AtlasExit.usage)
    }
}
