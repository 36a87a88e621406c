import ArgumentParser
import AtlasExplain
import AtlasImage
import AtlasMap
import AtlasReduce
import AtlasVis

// Options with a fixed set of values parse straight into the engine's enums: `--help` lists the values, and a typo
// is a usage error (64) with the choices named, from the parser, in every command alike.
extension ParamKind: ExpressibleByArgument {}
extension ReduceMethod: ExpressibleByArgument {}
extension DistanceMetric: ExpressibleByArgument {}
extension AttributionMode: ExpressibleByArgument {}
extension AttributionMethod: ExpressibleByArgument {}
extension AttributionBaseline: ExpressibleByArgument {}
extension Colormap.Name: ExpressibleByArgument {}
extension ChannelStatistic: ExpressibleByArgument {}

/// `--format` of tiles: `jpg` (JPEG quality 90) or `png`.
enum TileFormatName: String, CaseIterable, ExpressibleByArgument {
    case jpg, png

    var tileFormat: TileFormat { self == .jpg ? .defaultJPEG : .fastPNG }
}

/// `atlas graph --layout`.
enum GraphLayoutName: String, CaseIterable, ExpressibleByArgument {
    /// Graphviz `dot` when installed, else the built-in layered layout.
    case auto
    case dot
    case builtin
}
