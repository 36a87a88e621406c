import AtlasImage
import AtlasJobs
import AtlasMap
import Foundation

/// `OUT/attribute.json`: the settings that decide an attribution folder's bytes. A run writes it first; a rerun
/// with equal settings resumes the folder (finished images are loaded from their records), with other settings
/// it is refused. `--batch`, `--limit`, the inputs, `--max-pixels` and the thread count are not part of it:
/// an image's record names its input, and a different input at the same position is computed anew.
struct AttributeJob: Codable {
    var version = 1
    var model: String
    var modelSHA256: String
    var method: String
    /// `class K` or `top N`.
    var classes: String
    /// Grad-CAM's layer (resolved value name); nil for the other methods.
    var layer: String?
    /// Integrated gradients only.
    var steps: Int?
    var baseline: String?
    var colormap: String
    var size: Int
    var channels: Int
    var preprocess: String
    /// SHA-256 of the class names, one per line; nil without labels.
    var labelsSHA256: String?

    static let file = "attribute.json"

    /// Resumes `out` when its `attribute.json` matches `self` (and clears temporary files a killed run left),
    /// else writes it; refuses a folder whose job differs and that holds finished images (exit 65, as `atlas
    /// collect` does). Returns whether an earlier job is resumed.
    func prepare(out: String) throws -> Bool {
        let path = out + "/" + AttributeJob.file
        if let data = FileManager.default.contents(atPath: path) {
            guard let earlier = try? JSONDecoder().decode(AttributeJob.self, from: data) else {
                throw CommandFailure(message: "\(path) is not an atlas attribute settings file; use another --out", code: AtlasExit.dataError)
            }
            let diffs = differences(from: earlier)
            if !diffs.isEmpty && !AttributeJob.holdsRecords(out) { return try start(path) }
            guard diffs.isEmpty else {
                throw CommandFailure(message: "\(out) holds attributions made with other settings: \(diffs.joined(separator: ", ")); "
                                     + "use another --out or the same settings to resume", code: AtlasExit.dataError)
            }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            where name.hasPrefix(".") && name.contains(".tmp-") {
                try? FileManager.default.removeItem(atPath: out + "/" + name)
            }
            return true
        }
        return try start(path)
    }

    /// Whether `out` holds a finished image's record (`NNNN-name.json`).
    static func holdsRecords(_ out: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains { name in
            name.hasSuffix(".json") && name.count > 5 && name.prefix(4).allSatisfy(\.isNumber) && name.dropFirst(4).first == "-"
        }
    }

    private func start(_ path: String) throws -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Attribute.write(Array(try encoder.encode(self)) + [10], to: path)
        return false
    }

    /// The settings that differ (`method (gradcam vs saliency)`), from the job's own encoding, so that a field
    /// added to `AttributeJob` is compared without being listed again.
    func differences(from o: AttributeJob) -> [String] {
        guard let now = try? ShardManifest.settingsJSON(self), let then = try? ShardManifest.settingsJSON(o) else { return ["format"] }
        return now.differences(from: then)
    }
}
