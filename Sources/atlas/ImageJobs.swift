import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasJobs
import AtlasOutput
import Foundation

/// Resumable per-image commands (`atlas attribute`, `atlas attention`). Each writes, per input image, its pictures
/// and maps and then its record `OUT/NNNN-name.json` (so a record means a finished image), and records its recipe
/// in `OUT/job.json` (`JobFolder`). A rerun with equal settings resumes the folder: finished images are loaded from
/// their records; with other settings it is refused (exit 65, naming the settings that differ) while the folder
/// holds finished images. `--batch`, `--limit`, the inputs, `--max-pixels` and the thread count are not part of a
/// recipe: a record names its input, and a different input at the same position is computed anew.
enum ImageJob {
    /// Opens `out` for the job of command `kind` whose recipe is `inputs` and the command's own `settings` (one JSON
    /// object: the fields of both); returns whether an earlier run of it is resumed.
    static func prepare<Settings: Encodable>(_ inputs: ImageJobInputs, _ settings: Settings, kind: String, out: String) throws -> Bool {
        try JobFolder(try OutputFolder(path: out), kind: kind, recipe: Recipe(inputs: inputs, settings: settings),
                      reuse: .sameJobOnly(holdsItems: { ImageJob.holdsRecords($0.path) })).resumed
    }

    /// A recipe: the inputs' fields and the command's settings' fields side by side in one object.
    private struct Recipe<Settings: Encodable>: Encodable {
        let inputs: ImageJobInputs
        let settings: Settings
        func encode(to encoder: Encoder) throws {
            try inputs.encode(to: encoder)
            try settings.encode(to: encoder)
        }
    }

    /// Whether `out` holds a finished image's record (`NNNN-name.json`).
    static func holdsRecords(_ out: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains { name in
            name.hasSuffix(".json") && name.count > 5 && name.prefix(4).allSatisfy(\.isNumber) && name.dropFirst(4).first == "-"
        }
    }

    /// Runs `process` on the images of `source` in fixed chunks of `batch` items, so that an image is computed in the
    /// same batch whether the run is resumed or not (a network's bits may depend on the batch composition). When
    /// `resuming`, a chunk whose readable images all have records is loaded, not computed; any other goes through
    /// `process` whole. Returns every record in input order, the unreadable items and how many records were loaded.
    static func run<Record: ImageRecord>(_ source: ImageSource, batch: Int, preprocessor: Preprocessor, out: String, resuming: Bool,
                                         progress: ProgressBar, process: (Tensor, [Int]) throws -> [Record])
        throws -> (records: [Record], failed: [(item: Int, error: ImageError)], reused: Int) {
        var records: [Record] = [], failed: [(item: Int, error: ImageError)] = [], reused = 0
        for first in stride(from: 0, to: source.total, by: batch) {
            let chunk = first..<min(source.total, first + batch)
            let earlier = chunk.map { i in
                resuming ? Record.finished(at: "\(out)/\(AttributionWriter.stem(source.name(i), number: i + 1)).json",
                                           file: source.name(i), out: out) : nil
            }
            if resuming, earlier.allSatisfy({ $0 != nil }) {
                records += earlier.compactMap { $0 }
                reused += chunk.count
            } else {
                failed += try source.forEachBatch(chunk, batch: batch, preprocessor: preprocessor) { tensor, items in
                    let known = items.compactMap { earlier[$0 - first] }
                    if known.count == items.count {
                        records += known
                        reused += known.count
                    } else {
                        records += try process(tensor, items)
                    }
                }
            }
            progress.advance(chunk.count)
        }
        return (records, failed, reused)
    }
}

/// One finished image of a resumable per-image command, as stored in `OUT/NNNN-name.json`: the contact sheet row and
/// the `--json` result are both made from it, so a resumed run's summary equals an uninterrupted run's.
protocol ImageRecord: Codable {
    /// The input as named by `ImageSource.name(_:)`.
    var file: String { get }
    /// The files of `OUT` the record names: its input picture, then its overlays and maps (a record naming no map is
    /// not a finished image).
    var files: [String] { get }
}

extension ImageRecord {
    /// The record's file contents (sorted keys, so equal records are equal bytes).
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [10]
    }

    /// Writes the record as `OUT/STEM.json`, atomically; call it after the files it names are written.
    func write(out: String, stem: String) throws {
        try ImageCodec.writeAtomically(try encoded(), to: "\(out)/\(stem).json")
    }

    /// The record in `path` when it parses, describes `file` and every file it names exists in `out`; else nil.
    static func finished(at path: String, file: String, out: String) -> Self? {
        guard let data = FileManager.default.contents(atPath: path),
              let record = try? JSONDecoder().decode(Self.self, from: data), record.file == file, record.files.count > 1 else { return nil }
        guard record.files.allSatisfy({ !$0.contains("/") && FileManager.default.fileExists(atPath: out + "/" + $0) }) else { return nil }
        return record
    }
}

/// One of an image's most probable classes, as records store it.
struct RankedClass: Codable, Equatable {
    var `class`: Int
    var label: String
    var probability: Float

    init(class c: Int, label: String, probability: Float) { self.class = c; self.label = label; self.probability = probability }
    init(_ s: Scored) { self.init(class: s.index, label: s.label, probability: s.probability) }

    /// The `--json` form.
    var json: [String: Any] { ["class": `class`, "label": label, "probability": Double(probability)] }
}

/// What every per-image job's bytes depend on besides the command's own settings: the model (by SHA-256), how images
/// become its input, the colormap and the class names.
struct ImageJobInputs: Encodable {
    var model: String
    var modelSHA256: String
    var colormap: String
    var size: Int
    var channels: Int
    var preprocess: String
    /// SHA-256 of the class names, one per line; nil without labels.
    var labelsSHA256: String?

    init(model path: String, setup: ModelSetup, colormap: Colormap.Name) throws {
        guard let sha = SHA256.hex(file: path) else { throw CommandFailure(message: "cannot read \(path)", code: AtlasExit.noInput) }
        model = (path as NSString).lastPathComponent
        modelSHA256 = sha
        self.colormap = colormap.rawValue
        size = setup.size
        channels = setup.channels
        preprocess = setup.choice.summary
        labelsSHA256 = setup.labels.map { SHA256.hex(Array($0.joined(separator: "\n").utf8)) }
    }
}

/// `atlas attribute`'s own settings in its recipe (`ImageJob`).
struct AttributeJob: Encodable {
    var version = 1
    var method: String
    /// `class K` or `top N`.
    var classes: String
    /// Grad-CAM's layer (resolved value name); nil for the other methods.
    var layer: String?
    /// Integrated gradients only.
    var steps: Int?
    var baseline: String?
}

/// `atlas attention`'s own settings in its recipe (`ImageJob`).
struct AttentionJob: Encodable {
    var version = 1
    /// `class`, `mean` or `patch P`.
    var query: String
    /// The chosen attention sites (`AttentionLayer.index`).
    var layers: [Int]
    /// One head, or nil for every head (and the mean) or, with `meanHeads`, only the mean.
    var head: Int?
    var meanHeads: Bool
    var rollout: Bool
}
