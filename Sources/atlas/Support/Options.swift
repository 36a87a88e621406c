import ArgumentParser
import AtlasCore

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
