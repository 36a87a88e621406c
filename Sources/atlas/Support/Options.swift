import ArgumentParser
import AtlasCore
import AtlasMap

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

/// Options `atlas gallery` and `atlas map` share: how icons are optimized, and where and how the result is written.
struct RenderOutputOptions: ParsableArguments {
    @Option(help: "Transforms: auto (maco for --param maco, else standard), standard, maco, none, or a list like 'pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4' or 'crop:0.6-1.0,noise:0.02'.")
    var transforms = "auto"
    @Option(help: "Parameterization: fft (Lucid), pixel, or maco (phase only, natural magnitude spectrum; also writes <icon>.importance.png).") var param = "fft"
    @Option(help: "Resize the transformed image to N×N before the model (Lucent: 224).") var upsample: Int?
    @Option(help: "Tile format: jpg or png.") var format = "jpg"
    @Option(help: "Title shown by the viewer.") var title: String?
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Print a JSON summary on stdout.") var json = false
}

/// `--shard i/n|auto|auto/n` (nil when not given), with a usage error for bad text or a missing environment.
func parseShardOption(_ text: String?) throws -> ShardSpec? {
    guard let text else { return nil }
    do { return try ShardSpec.parse(text) } catch { throw CommandFailure(message: "--shard: \(error)", code: AtlasExit.usage) }
}
