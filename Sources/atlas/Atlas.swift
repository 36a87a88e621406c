import ArgumentParser
import AtlasCore
import Foundation

@main
struct Atlas: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "atlas",
        abstract: "Feature visualization and activation atlases for ONNX convolutional networks, on the CPU.",
        discussion: """
        Atlas runs convolutional networks from standard ONNX files on every CPU core, renders feature \
        visualizations by gradient ascent on the input, and builds activation atlases and channel galleries \
        as zoomable tile pyramids with an index. Same seed, same bytes, whatever the thread count.

        Layers (--layer): an ONNX value name or its module alias, as atlas inspect lists them; a vision \
        transformer's token layer names its patch grid, and NAME::cls its class token as one position.

        Threads: set --threads on a command or ATLAS_THREADS in the environment (default: all cores).

        \(AtlasExit.helpText)
        """,
        version: version,
        subcommands: [Demo.self, Inspect.self, Run.self, Visualize.self, GalleryCommand.self, CollectCommand.self, MapCommand.self,
                      UnitsCommand.self, Attribute.self, AttentionCommand.self, Activations.self, GraphCommand.self, MergeCommand.self, PlanCommand.self, Serve.self,
                      Bench.self]
    )

    /// Parses and runs a command; typed input errors become `atlas: error: …` with a documented exit code.
    static func main() {
        MemoryStats.returnLargeBlocksToSystem()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            ErrorReport.exit(with: error, command: Atlas.self)
        }
    }
}
