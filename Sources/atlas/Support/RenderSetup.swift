import AtlasImage
import AtlasVis

/// Render options from the command-line values shared by `visualize`, `gallery` and `map`, with usage errors for
/// bad text, and the preprocessing resolved as every command resolves it (`Preprocess.parse`, for a model whose
/// images have `channels` channels).
func makeRenderOptions(param: String, size: Int, steps: Int, lr: Float, upsample: Int?, transforms: String,
                       preprocess: String, model: String, channels: Int) throws -> (RenderOptions, PreprocessChoice) {
    guard let kind = ParamKind(rawValue: param) else {
        throw CommandFailure(message: "--param '\(param)': expected fft or pixel", code: AtlasExit.usage)
    }
    var options = RenderOptions(param: kind, size: size, steps: steps, learningRate: lr, upsample: upsample)
    options.transforms = try inContext("--transforms") { try TransformPipeline.parse(transforms) }
    let choice = try Preprocess.parse(preprocess, modelPath: model, channels: channels)
    options.preprocess = choice.preprocess
    return (options, choice)
}

/// `--format jpg|png` (tiles of a pyramid).
func parseTileFormat(_ text: String) throws -> TileFormat {
    switch text.lowercased() {
    case "jpg", "jpeg": return .defaultJPEG
    case "png": return .fastPNG
    default: throw CommandFailure(message: "--format '\(text)': expected jpg or png", code: AtlasExit.usage)
    }
}
