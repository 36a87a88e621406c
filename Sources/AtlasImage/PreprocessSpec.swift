import Foundation

/// Why a preprocessing specification cannot be used.
public enum PreprocessSpecError: Error, CustomStringConvertible, Equatable {
    case parse(String)
    case sidecar(path: String, reason: String)

    public var description: String {
        switch self {
        case let .parse(m): return "preprocess: \(m)"
        case let .sidecar(p, r): return "preprocess: sidecar \(p): \(r)"
        }
    }
}

/// A preprocessing chosen for a model, with where it came from (`imagenet`, `auto: model.json`, …), as every
/// command prints and records it.
public struct PreprocessChoice: Equatable, Sendable, Codable {
    public let preprocess: Preprocess
    /// The spelling or sidecar file it came from (a file by name only, so records do not depend on where the model lies).
    public let source: String

    public init(_ preprocess: Preprocess, source: String) {
        self.preprocess = preprocess
        self.source = source
    }

    /// `source (x·scale + shift)`: the one line each command prints and records.
    public var summary: String { "\(source) (\(preprocess))" }
}

extension Preprocess {
    /// The `--preprocess` vocabulary, one meaning per word in every command:
    /// - `auto`: the sidecar of `modelPath` (see `sidecar(forModel:)`) if there is one, else `imagenet` for
    ///   3-channel models and `unit` for 1-channel ones;
    /// - `imagenet` (torchvision mean/std), `inception` (Lucid's InceptionV1 range −117…138), `unit` ([0, 1], as
    ///   decoded), `none` (raw pixel values 0…255);
    /// - `mean:M,std:S` where M and S are one number or numbers separated by `/` (e.g. `mean:0.286,std:0.353`,
    ///   `mean:0.485/0.456/0.406,std:0.229/0.224/0.225`);
    /// - `range:LO:HI` maps [0, 1] onto [LO, HI].
    /// `channels` is the model's input channel count (it decides `auto` without a sidecar, and must fit the result).
    public static func parse(_ spec: String, modelPath: String?, channels: Int) throws -> PreprocessChoice {
        let choice = try parseUnchecked(spec, modelPath: modelPath, channels: channels)
        guard choice.preprocess.accepts(channels: channels) else {
            throw PreprocessSpecError.parse("\(choice.source) has \(choice.preprocess.scale.count) channel values; the model takes \(channels)")
        }
        return choice
    }

    /// The words `parse` accepts, for help texts and messages.
    public static let vocabulary = "auto, imagenet, inception, unit, none, mean:M,std:S, range:LO:HI"

    private static func parseUnchecked(_ spec: String, modelPath: String?, channels: Int) throws -> PreprocessChoice {
        let s = spec.filter { !$0.isWhitespace }
        switch s {
        case "unit": return PreprocessChoice(.identity, source: "unit")
        case "none": return PreprocessChoice(.byteRange, source: "none")
        case "inception": return PreprocessChoice(.inceptionV1, source: "inception")
        case "imagenet": return PreprocessChoice(.imagenet, source: "imagenet")
        case "auto":
            if let modelPath, let found = try sidecar(forModel: modelPath) {
                return PreprocessChoice(found.preprocess, source: "auto: " + (found.path as NSString).lastPathComponent)
            }
            return channels == 3 ? PreprocessChoice(.imagenet, source: "auto: imagenet (no sidecar)")
                                 : PreprocessChoice(.identity, source: "auto: unit (no sidecar)")
        default: break
        }
        func numbers(_ text: Substring, _ what: String) throws -> [Float] {
            let vals = text.split(separator: "/", omittingEmptySubsequences: false).map { Float($0) }
            guard !vals.isEmpty, vals.allSatisfy({ $0?.isFinite == true }) else {
                throw PreprocessSpecError.parse("\(what) must be numbers separated by '/', got '\(text)'")
            }
            return vals.map { $0! }
        }
        if s.hasPrefix("range:") {
            let parts = s.dropFirst(6).split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let lo = Float(parts[0]), let hi = Float(parts[1]), lo.isFinite, hi.isFinite, hi > lo else {
                throw PreprocessSpecError.parse("expected range:LO:HI with LO < HI, got '\(spec)'")
            }
            return PreprocessChoice(.range(lo, hi), source: "range:\(lo):\(hi)")
        }
        if s.hasPrefix("mean:") {
            let parts = s.split(separator: ",")
            guard parts.count == 2, parts[0].hasPrefix("mean:"), parts[1].hasPrefix("std:") else {
                throw PreprocessSpecError.parse("expected mean:M,std:S, got '\(spec)'")
            }
            let mean = try numbers(parts[0].dropFirst(5), "mean"), std = try numbers(parts[1].dropFirst(4), "std")
            return PreprocessChoice(try meanStd(checked: mean, std), source: "mean-std")
        }
        throw PreprocessSpecError.parse("unknown '\(spec)' (\(vocabulary))")
    }

    /// `meanStd` with validation instead of a precondition.
    public static func meanStd(checked mean: [Float], _ std: [Float]) throws -> Preprocess {
        guard mean.count == std.count, !mean.isEmpty else {
            throw PreprocessSpecError.parse("mean has \(mean.count) values, std \(std.count)")
        }
        guard std.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw PreprocessSpecError.parse("std values must be positive and means finite")
        }
        return meanStd(mean, std)
    }

    /// The preprocessing declared next to a model: `<model name without .onnx>.json`, else `model.json`, in the
    /// model's directory. The JSON holds `{"preprocess": {"mean": [...], "std": [...]}}`, or a range as
    /// `{"preprocess": {"range": [-117, 138]}}` or `{"range": [-117, 138]}`. A file declaring neither is skipped;
    /// nil when no file declares one; throws when a declaration is malformed.
    public static func sidecar(forModel modelPath: String) throws -> (preprocess: Preprocess, path: String)? {
        for path in sidecarFiles(forModel: modelPath) where FileManager.default.fileExists(atPath: path) {
            if let found = try read(URL(fileURLWithPath: path)) { return (found, path) }
        }
        return nil
    }

    /// Where a model's sidecar may lie, in the order they are read: `<model name without .onnx>.json`, then
    /// `model.json`, in the model's directory.
    public static func sidecarFiles(forModel modelPath: String) -> [String] {
        let url = URL(fileURLWithPath: modelPath)
        let dir = url.deletingLastPathComponent()
        return [dir.appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".json").path,
                dir.appendingPathComponent("model.json").path]
    }

    /// The preprocessing a sidecar declares; nil when it declares none (neither `preprocess` nor `range`).
    private static func read(_ file: URL) throws -> Preprocess? {
        let path = file.path
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: try Data(contentsOf: file))
        } catch {
            throw PreprocessSpecError.sidecar(path: path, reason: "not readable JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else { throw PreprocessSpecError.sidecar(path: path, reason: "not a JSON object") }
        func floats(_ v: Any?) -> [Float]? {
            if let d = v as? Double { return [Float(d)] }
            guard let a = v as? [Any] else { return nil }
            let f = a.compactMap { ($0 as? NSNumber).map { Float(truncating: $0) } }
            return f.count == a.count && !f.isEmpty ? f : nil
        }
        let pre = root["preprocess"] as? [String: Any]
        if let raw = pre?["range"] ?? root["range"] {
            guard let r = floats(raw), r.count == 2, r[1] > r[0] else {
                throw PreprocessSpecError.sidecar(path: path, reason: "range must be [low, high] with low < high")
            }
            return .range(r[0], r[1])
        }
        guard let pre else { return nil }
        guard let mean = floats(pre["mean"]), let std = floats(pre["std"]) else {
            throw PreprocessSpecError.sidecar(path: path, reason: "preprocess needs numeric mean and std, or range")
        }
        do { return try meanStd(checked: mean, std) } catch let e as PreprocessSpecError {
            throw PreprocessSpecError.sidecar(path: path, reason: e.description)
        }
    }
}
