import AtlasCore
import AtlasImage
import AtlasMap
import AtlasNet
import Foundation

/// Image mode of `atlas run`: parallel decode, batched inference, top-K per image, skipped files listed.
extension Run {
    struct Prediction: Encodable {
        let file: String
        let top: [Scored]
    }

    struct Report: Encodable {
        let model: String
        let preprocess: String
        let size: Int
        let images: Int
        let seconds: Double
        let imagesPerSecond: Double
        let accuracy: Double?
        let predictions: [Prediction]
        let skipped: [[String: String]]
    }

    func classify() throws {
        ImageLimits.current = ImageLimits(maxPixels: maxPixels)
        let net = try ModelSetup.loadNetwork(model)
        let setup = try ModelSetup(network: net, modelPath: model, input: input, labelsPath: labels)
        guard let outputName = net.graph.outputs.first?.name else { throw ModelError.invalidGraph("the model has no outputs") }
        let pre = setup.preprocessor

        let source = try ImageSource(inputs: images, channels: setup.channels)
        let progress = ProgressBar("classify", total: source.total, unit: "img", quiet: quiet || json)
        var predictions: [Prediction] = []
        let start = Date()
        let skipped = try source.forEachBatch(size: batch, preprocessor: pre) { b in
            let values = try net.forward(b.tensor, capture: [outputName])
            guard let y = values[outputName], y.rank == 2, y.shape[0] == b.files.count else {
                throw CommandFailure(message: "the model's output \(values[outputName]?.shape ?? []) is not [batch, classes]",
                                     code: AtlasExit.dataError)
            }
            for (i, name) in b.files.enumerated() {
                predictions.append(Prediction(file: name, top: setup.topK(y, row: i, k: top)))
            }
            progress.advance(b.files.count)
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        let accuracy = try truth.map { try Run.accuracy(predictions, truthPath: $0) }

        if json {
            let report = Report(model: model, preprocess: setup.choice.summary, size: setup.size, images: predictions.count,
                                seconds: seconds, imagesPerSecond: Double(predictions.count) / max(seconds, 1e-9),
                                accuracy: accuracy, predictions: predictions,
                                skipped: skipped.map { ["file": $0.path, "reason": $0.error.description] })
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
            return
        }
        for p in predictions {
            print("\(p.file)\t" + p.top.map { "\($0.label) \(String(format: "%.3f", $0.probability))" }.joined(separator: "\t"))
        }
        var summary = "\(predictions.count) images in \(String(format: "%.2f", seconds)) s " +
            "(\(String(format: "%.1f", Double(predictions.count) / max(seconds, 1e-9))) img/s, \(Parallel.threadCount) threads)"
        if let accuracy { summary += "; top-1 accuracy \(String(format: "%.2f", accuracy * 100))%" }
        note(summary, quiet: quiet)
        if !skipped.isEmpty {
            note("skipped \(skipped.count) file(s):")
            for s in skipped { note("  \(s.path): \(s.error.reason)") }
        }
    }

    /// Fraction of predictions whose top class equals the truth, in input order.
    static func accuracy(_ predictions: [Prediction], truthPath: String) throws -> Double {
        let truth: [Int]
        if IDX.looksLikeIDX(truthPath) {
            truth = try IDX.labels(truthPath)
        } else {
            guard let text = try? String(contentsOfFile: truthPath, encoding: .utf8) else {
                throw CommandFailure(message: "cannot read --truth file \(truthPath)", code: AtlasExit.noInput)
            }
            truth = try text.split(whereSeparator: \.isNewline).map { line in
                guard let v = Int(line.trimmingCharacters(in: .whitespaces)) else {
                    throw CommandFailure(message: "--truth: '\(line)' is not a class index", code: AtlasExit.dataError)
                }
                return v
            }
        }
        guard truth.count >= predictions.count else {
            throw CommandFailure(message: "--truth has \(truth.count) labels for \(predictions.count) images", code: AtlasExit.dataError)
        }
        let correct = zip(predictions, truth).filter { $0.top.first?.index == $1 }.count
        return Double(correct) / Double(max(predictions.count, 1))
    }
}
