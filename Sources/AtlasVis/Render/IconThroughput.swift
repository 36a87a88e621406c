import AtlasCore
import AtlasNet
import Foundation

/// The feature-visualization throughput workload shared by `atlas bench --vis` and the Benchmarks package: `batch`
/// channel objectives at one layer (channels 0, 1, … modulo the layer's width, icon i seeded i), rendered as one batch
/// with the given options. Its figure is icon-steps per second: icons × optimization steps / seconds.
public struct IconThroughput {
    public let renderer: Renderer
    public let layer: String
    public let objectives: [Objective]
    public let seeds: [UInt64]
    public let options: RenderOptions

    /// Checks the layer and options against the network (throws `ModelError` / `RenderError` naming the problem).
    public init(network: Network, layer: String, batch: Int, options: RenderOptions) throws {
        guard batch >= 1 else { throw RenderError.invalidOption("batch \(batch) (≥ 1)") }
        let renderer = try Renderer(network: network)
        let side = try renderer.modelInputSize(options)
        let plan = try network.plan(for: [batch, renderer.inputChannels, side, side])
        let value = try renderer.valueName(layer)
        if let e = plan.errors[value] { throw e.naming(layer) }
        guard let shape = plan.shapes[value], shape.count >= 2, shape[1] > 0 else { throw ModelError.unknownLayer(layer) }
        self.renderer = renderer
        self.layer = layer
        objectives = (0..<batch).map { Objective.channel(layer, $0 % shape[1]) }
        seeds = (0..<batch).map(UInt64.init)
        self.options = options
    }

    public var batch: Int { objectives.count }

    /// Renders `steps` steps from scratch; returns the wall-clock seconds. `progress(step, steps)` after each step.
    public func run(steps: Int, progress: ((Int, Int) -> Void)? = nil) throws -> Double {
        var o = options
        o.steps = steps
        o.thresholds = []
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try renderer.render(objectives, seeds: seeds, options: o, progress: progress)
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    /// Icon-steps per second of a run of `steps` steps that took `seconds`.
    public func rate(steps: Int, seconds: Double) -> Double { Double(batch * steps) / seconds }
}
