import AtlasCore

/// The mean of a value, or of one channel of it over batch and space: the objective of `atlas run --gradient-of`
/// and Lucid's channel objective. Parsed from `NAME` or `NAME:CHANNEL`; a name that itself contains ':'
/// (tf2onnx's `x:0`) wins over the channel reading.
public struct MeanObjective: Sendable {
    /// The value (name or alias as given).
    public let value: String
    /// One channel (axis 1), or nil for the whole value.
    public let channel: Int?

    /// Parses `NAME` or `NAME:CHANNEL`, checking the name against the model.
    public init(parsing text: String, names: LayerNames) throws {
        if names.resolve(text) != nil {
            value = text
            channel = nil
            return
        }
        if let colon = text.lastIndex(of: ":"), let c = Int(text[text.index(after: colon)...]), c >= 0 {
            let name = String(text[..<colon])
            _ = try names.value(name)
            value = name
            channel = c
            return
        }
        _ = try names.value(text)   // says why `text` names nothing (no such layer, or no class token)
        throw ModelError.unknownLayer(text)
    }

    /// d objective / d value: 1/count everywhere (mean), or 1/(N·spatial) on one channel of axis 1.
    public func seed(like v: Tensor) throws -> Tensor {
        let g = Tensor(zeros: v.shape)
        guard let channel else {
            g.fill(1 / Float(max(v.count, 1)))
            return g
        }
        guard v.rank >= 2, channel < v.shape[1] else {
            throw ModelError.invalidGraph("channel \(channel) is out of range for '\(value)' with shape \(v.shape)")
        }
        let n = v.shape[0], c = v.shape[1], inner = v.count / max(n * c, 1)
        let w = 1 / Float(max(n * inner, 1))
        for b in 0..<n { (g.data + (b * c + channel) * inner).update(repeating: w, count: inner) }
        return g
    }
}
