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

extension Preprocess {
    /// Parses the `--preprocess` option:
    /// - `none` (identity: the model sees [0, 1] images), `inception` (Lucid's InceptionV1 range −117…138),
    ///   `imagenet` (torchvision mean/std);
    /// - `mean:M,std:S` where M and S are one number or numbers separated by `/` (e.g. `mean:0.286,std:0.353`,
    ///   `mean:0.485/0.456/0.406,std:0.229/0.224/0.225`);
    /// - `range:LO:HI` maps [0, 1] onto [LO, HI];
    /// - `auto`: the sidecar of `modelPath` (see `sidecar(forModel:)`), identity when there is none.
    /// Returns the preprocessing and where it came from (for summaries).
    public static func parse(_ spec: String, modelPath: String? = nil) throws -> (preprocess: Preprocess, source: String) {
        let s = spec.filter { !$0.isWhitespace }
        switch s {
        case "none", "identity": return (.identity, "none")
        case "inception", "inceptionv1": return (.inceptionV1, "inception")
        case "imagenet": return (.imagenet, "imagenet")
        case "auto":
            if let modelPath, let found = try sidecar(forModel: modelPath) { return (found.preprocess, found.path) }
            return (.identity, "none (no sidecar)")
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
            return (.range(lo, hi), "range \(lo)…\(hi)")
        }
        if s.hasPrefix("mean:") {
            let parts = s.split(separator: ",")
            guard parts.count == 2, parts[0].hasPrefix("mean:"), parts[1].hasPrefix("std:") else {
                throw PreprocessSpecError.parse("expected mean:M,std:S, got '\(spec)'")
            }
            let mean = try numbers(parts[0].dropFirst(5), "mean"), std = try numbers(parts[1].dropFirst(4), "std")
            return (try meanStd(checked: mean, std), "mean \(mean) std \(std)")
        }
        throw PreprocessSpecError.parse("unknown '\(spec)' (auto, none, inception, imagenet, mean:M,std:S, range:LO:HI)")
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
        let url = URL(fileURLWithPath: modelPath)
        let dir = url.deletingLastPathComponent()
        let candidates = [dir.appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".json"),
                          dir.appendingPathComponent("model.json")]
        for file in candidates where FileManager.default.fileExists(atPath: file.path) {
            if let found = try read(file) { return (found, file.path) }
        }
        return nil
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
