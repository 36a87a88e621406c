import AtlasImage
import AtlasJobs
import AtlasOutput
import Foundation

/// The settings that decide an attribution folder's bytes: the recipe of its job (`JobFolder`, recorded in
/// `OUT/job.json`). A rerun with equal settings resumes the folder (finished images are loaded from their records);
/// with other settings it is refused while the folder holds finished images. `--batch`, `--limit`, the inputs,
/// `--max-pixels` and the thread count are not part of it: an image's record names its input, and a different input
/// at the same position is computed anew.
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

    /// Opens `out` for this job; returns whether an earlier run of it is resumed.
    func prepare(out: String) throws -> Bool {
        try JobFolder(try OutputFolder(path: out), kind: "attribute", recipe: self,
                      reuse: .sameJobOnly(holdsItems: { AttributeJob.holdsRecords($0.path) })).resumed
    }

    /// Whether `out` holds a finished image's record (`NNNN-name.json`).
    static func holdsRecords(_ out: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains { name in
            name.hasSuffix(".json") && name.count > 5 && name.prefix(4).allSatisfy(\.isNumber) && name.dropFirst(4).first == "-"
        }
    }
}
