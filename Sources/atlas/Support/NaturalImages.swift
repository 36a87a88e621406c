import AtlasCore
import AtlasImage
import AtlasVis
import Foundation

/// `--images` of `visualize` and `gallery`: natural images, centre-cropped to the icon size, against which each
/// icon's score is compared (`Renderer.bestNaturalValues`). Unreadable files are skipped and returned.
struct NaturalImages {
    let tensor: Tensor
    let files: [String]
    let skipped: [SkippedFile]

    init(_ inputs: [String], channels: Int, size: Int, limit: Int) throws {
        let source: ImageSource
        do { source = try ImageSource(inputs: inputs, channels: channels, limit: limit) } catch {
            throw CommandFailure(message: "--images: \(error)", code: AtlasExit.noInput)
        }
        var values: [Float] = [], files: [String] = []
        var pre = Preprocessor.centerCrop(size)
        pre.layout = channels == 1 ? .gray : .rgb
        let skipped = try source.forEachBatch(size: 16, preprocessor: pre) { b in
            values += b.tensor.toArray()
            files += b.files
        }
        guard !files.isEmpty else { throw CommandFailure(message: "--images: no readable image in \(inputs.joined(separator: ", "))", code: AtlasExit.noInput) }
        tensor = Tensor(shape: [files.count, channels, size, size], values: values)
        self.files = files
        self.skipped = skipped
    }

    /// `score / best` when both are finite and `best > 0`, else nil.
    static func relative(_ score: Double?, _ best: Double) -> Double? {
        guard let score, score.isFinite, best.isFinite, best > 0 else { return nil }
        return score / best
    }
}
