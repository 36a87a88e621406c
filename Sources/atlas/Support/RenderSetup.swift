import AtlasImage
import AtlasVis

/// Render options from the command-line values shared by `visualize`, `gallery` and `map`, with usage errors for
/// bad text, and the preprocessing resolved as every command resolves it (`Preprocess.parse`, for a model whose
/// images have `channels` channels). A nil `lr` is the parameterization's default.
func makeRenderOptions(param: ParamKind, size: Int, steps: Int, lr: Float?, upsample: Int?, transforms: String,
                       preprocess: String, model: String, channels: Int) throws -> (RenderOptions, PreprocessChoice) {
    var options = RenderOptions(param: param, size: size, steps: steps, learningRate: lr ?? RenderOptions.defaultLearningRate(for: param),
                                upsample: upsample)
    options.transforms = try inContext("--transforms") { try parseTransforms(transforms, param: param) }
    let choice = try Preprocess.parse(preprocess, modelPath: model, channels: channels)
    options.preprocess = choice.preprocess
    return (options, choice)
}

/// `--transforms`: `auto` is the parameterization's own (`maco` for MACO, else `standard`).
func parseTransforms(_ text: String, param: ParamKind) throws -> TransformPipeline {
    text == "auto" ? TransformPipeline.defaults(for: param) : try TransformPipeline.parse(text)
}
