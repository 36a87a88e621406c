/// The on-disk record of an activation collection (`collect.json`, see docs/activations-format.md) and the
/// per-row records of its parts (`part-NNNNN.jsonl`).
import AtlasOutput
import Foundation

/// How the classes of a sample are scored.
public enum AttributionMode: String, Codable, Sendable, CaseIterable {
    /// Gradient × activation: ⟨∂ logit_k / ∂ a(x, y), a(x, y)⟩ at the sampled position, for the image's top logits.
    case gradxact
    /// The image's top pre-softmax logits themselves.
    case logit
    /// No classes (the forward stops at the layer).
    case off
}

/// Everything the stored rows depend on; a resumed run must have the same.
public struct CollectSettings: Codable, Sendable, Equatable {
    /// The layer as given, and the ONNX value it resolved to.
    public var layer: String
    public var value: String
    /// Random spatial positions kept per image (drawn with replacement from stream `item` of `seed`).
    public var perImage: Int
    public var limit: Int?
    /// Images per forward pass, and candidate images per part file.
    public var batch: Int
    public var partImages: Int
    /// Classes kept per sample and how they are scored.
    public var top: Int
    public var attribution: AttributionMode
    public var seed: UInt64
    /// The network input `[C, H, W]` and a description of the preprocessing.
    public var input: [Int]
    public var preprocess: String

    public init(layer: String, value: String, perImage: Int = 1, limit: Int? = nil, batch: Int = 32, partImages: Int = 1024,
                top: Int = 5, attribution: AttributionMode = .gradxact, seed: UInt64 = 0, input: [Int], preprocess: String) {
        self.layer = layer; self.value = value; self.perImage = perImage; self.limit = limit; self.batch = batch
        self.partImages = partImages; self.top = top; self.attribution = attribution; self.seed = seed
        self.input = input; self.preprocess = preprocess
    }
}

/// One complete part: rows of items `first ..< first + count`.
public struct CollectPart: Codable, Sendable, Equatable {
    public var index: Int
    /// Candidate items covered (bad ones included, listed in `skipped`).
    public var first: Int
    public var count: Int
    /// Rows stored (good items × perImage).
    public var rows: Int
    public var npy: String
    public var jsonl: String
    public var npySHA256: String
    public var jsonlSHA256: String
    public var skipped: [SkippedImage]
}

/// An image that could not be used, and why.
public struct SkippedImage: Codable, Sendable, Equatable {
    public var image: String
    public var reason: String
}

/// `collect.json`.
public struct CollectManifest: Codable, Sendable, Equatable {
    public static let formatName = "atlas-activations"

    public var format: String = CollectManifest.formatName
    public var version: Int = 1
    public var model: AtlasIndex.Model
    public var settings: CollectSettings
    /// Inputs as given; sample names are relative to them (see `ImageSource.relativeName`).
    public var inputs: [String]
    /// Channels C of the layer (row length) and its spatial size `[H, W]`.
    public var channels: Int
    public var spatial: [Int]
    /// Class names by index when the model has a labels.txt; nil otherwise.
    public var labels: [String]?
    /// Candidate images in all, and the parts written so far (in order; a part exists only once listed here).
    public var items: Int
    public var parts: [CollectPart]
    /// True when every part is written.
    public var complete: Bool

    /// Rows over all parts.
    public var rows: Int { parts.reduce(0) { $0 + $1.rows } }
    public var skipped: [SkippedImage] { parts.flatMap(\.skipped) }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads `DIR/collect.json`.
    public static func read(directory: String) throws -> CollectManifest {
        let path = (directory as NSString).appendingPathComponent("collect.json")
        guard let data = FileManager.default.contents(atPath: path) else { throw CollectError.notFound(path) }
        let manifest: CollectManifest
        do { manifest = try JSONDecoder().decode(CollectManifest.self, from: data) }
        catch { throw CollectError.badManifest(path, "\(error)") }
        guard manifest.format == formatName, manifest.version == 1 else {
            throw CollectError.badManifest(path, "format \(manifest.format) version \(manifest.version); expected \(formatName) 1")
        }
        return manifest
    }
}

/// One stored row: where the activation vector came from and its classes.
public struct CollectRecord: Codable, Sendable, Equatable {
    /// Item number in the input list, the image (relative name) and the position on the layer's grid.
    public var item: Int
    public var image: String
    public var x: Int
    public var y: Int
    /// Class indices (best logit first) and their values (attribution or logit); empty with attribution off.
    public var classes: [Int]
    public var values: [Float]
}

/// Why a collection cannot be made or read.
public enum CollectError: Error, CustomStringConvertible, Equatable {
    case invalidSettings(String)
    case notFound(String)
    case badManifest(String, String)
    case mismatch(String)
    case badPart(String)

    public var description: String {
        switch self {
        case let .invalidSettings(m): return "collect: \(m)"
        case let .notFound(p): return "\(p): not found (not an activation collection?)"
        case let .badManifest(p, m): return "\(p): \(m)"
        case let .mismatch(m): return "collect: \(m)"
        case let .badPart(m): return "collect: \(m)"
        }
    }
}
