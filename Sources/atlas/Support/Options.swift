import ArgumentParser
import AtlasCore
import AtlasExplain
import AtlasJobs
import AtlasMap
import AtlasVis

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Worker threads (default: ATLAS_THREADS or all cores). Results are identical at any count.")
    var threads: Int?

    @Flag(name: .shortAndLong, help: "No progress bars or notes on stderr.")
    var quiet = false

    /// Applies `--threads` to the engine.
    func apply() throws {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
            Parallel.threadCount = threads
        }
    }
}

/// How images become the model's input, shared by the commands that feed images (run, collect, activations,
/// attribute): the input size and `--preprocess`, resolved by `ModelSetup` the same way in each.
struct ModelInputOptions: ParsableArguments {
    @Option(help: "Input size in pixels (default: the model's declared size, its sidecar's, or 224).") var size: Int?
    @Option(help: PreprocessHelp.option) var preprocess = "auto"
}

/// Options of the commands that draw per-image heatmaps (`atlas attribute`, `atlas attention`): how many images go
/// through the network at a time, which ones, the class names shown and the colormap.
struct HeatmapImageOptions: ParsableArguments {
    @Option(help: "Heatmap colormap.") var colormap: Colormap.Name = .inferno
    @Option(help: "Images per pass through the network.") var batch = 16
    @Option(help: "At most this many images (in input order).") var limit: Int?
    @Option(help: "Class names, one per line (default: labels.txt next to the model).") var labels: String?
    @Option(help: "Refuse images with more pixels than this (checked before decoding).") var maxPixels = 100_000_000

    func validate() throws {
        if !(1...4096).contains(batch) { throw ValidationError("--batch must be 1…4096") }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
    }
}

/// Options `atlas gallery` and `atlas map` share: how icons are optimized, and where and how the result is written.
struct RenderOutputOptions: ParsableArguments {
    @Option(help: "Transforms: auto (maco for --param maco, else standard), standard, maco, none, or a list like 'pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4' or 'crop:0.6-1.0,noise:0.02'.")
    var transforms = "auto"
    @Option(help: "Image parameterization: fft (Lucid), pixel, or maco (phase only, natural magnitude spectrum; also writes <icon>.importance.png).")
    var param: ParamKind = .fft
    @Option(help: "Resize the transformed image to N×N before the model (Lucent: 224).") var upsample: Int?
    @Option(help: "Tile format.") var format: TileFormatName = .jpg
    @Option(help: "Title shown by the viewer.") var title: String?
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary on stdout.") var json = false
}

/// `--shard i/n|auto|auto/n` (nil when not given), with a usage error for bad text or a missing environment.
func parseShardOption(_ text: String?) throws -> ShardSpec? {
    guard let text else { return nil }
    return try inContext("--shard") { try ShardSpec.parse(text) }
}
