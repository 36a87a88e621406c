/// The reduce stage of `atlas map`: activations → 2-D layout (UMAP or PCA), kept as `layout.npy` with a key in
/// `layout.json` so that a rerun on the same collection and settings reads it instead of recomputing.
import AtlasCore
import AtlasNet
import AtlasOutput
import AtlasReduce
import Foundation

/// How activations are laid out in 2-D.
public enum ReduceMethod: String, Codable, Sendable, CaseIterable { case umap, pca }

/// Reduction settings (umap-learn's parameter names).
public struct ReduceSettings: Codable, Sendable, Equatable {
    public var method: ReduceMethod = .umap
    public var neighbors: Int = 20
    public var minDist: Double = 0.01
    public var metric: String = DistanceMetric.cosine.rawValue
    public var seed: UInt64 = 0
    public init(method: ReduceMethod = .umap, neighbors: Int = 20, minDist: Double = 0.01,
                metric: DistanceMetric = .cosine, seed: UInt64 = 0) {
        self.method = method; self.neighbors = neighbors; self.minDist = minDist; self.metric = metric.rawValue; self.seed = seed
    }
}

public enum LayoutStage {
    /// The raw 2-D layout (`[N, 2]`) of `activations`: read from `folder/layout.npy` when `layout.json` records the
    /// same `dataKey` and settings, else computed and written (npy first, then the key, both atomically).
    /// Returns the layout and whether it was reused.
    public static func layout(_ activations: Tensor, dataKey: String, settings: ReduceSettings,
                              folder: OutputFolder) throws -> (layout: Tensor, reused: Bool) {
        struct Key: Codable, Equatable { var data: String; var reduce: ReduceSettings; var rows: Int }
        let key = Key(data: dataKey, reduce: settings, rows: activations.shape[0])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        if let data = FileManager.default.contents(atPath: folder.file("layout.json")),
           let old = try? JSONDecoder().decode(Key.self, from: data), old == key,
           let t = try? NPY.read(path: folder.file("layout.npy")), t.shape == [activations.shape[0], 2] {
            return (t, true)
        }
        let layout = try compute(activations, settings: settings)
        try folder.write([UInt8](NPY.encode(layout)), to: "layout.npy")
        try folder.write(Array(try encoder.encode(key)), to: "layout.json")
        return (layout, false)
    }

    /// UMAP or the first two principal components.
    public static func compute(_ activations: Tensor, settings: ReduceSettings) throws -> Tensor {
        guard let metric = DistanceMetric(rawValue: settings.metric) else {
            throw ReduceError.invalidParameter("metric '\(settings.metric)'")
        }
        switch settings.method {
        case .pca:
            return try PCA(fitting: activations, components: 2, seed: settings.seed).transform(activations)
        case .umap:
            let n = activations.shape[0]
            let umap = UMAP(nNeighbors: min(settings.neighbors, max(2, n - 1)), minDist: settings.minDist, metric: metric,
                            seed: settings.seed)
            return try umap.fitTransform(activations)
        }
    }
}
