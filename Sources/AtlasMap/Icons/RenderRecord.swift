/// The render settings an `atlas.json` records, derived from `RenderOptions`' own encoding so that they can never
/// list fewer fields than the icons' keys and recipes do.
import AtlasOutput
import AtlasVis
import Foundation

extension RenderOptions {
    /// The options' encoding with snake_case keys (`learning_rate`, …), the preprocessing as the line every
    /// command prints (`source (x·scale + shift)`), and an unset `upsample` as null.
    func recordedSettings(preprocessSource: String?) throws -> [String: JSONValue] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard case .object(var fields) = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(pixelRecipe)) else {
            return [:]
        }
        fields["thresholds"] = nil
        fields["preprocess"] = .string(preprocessSource.map { "\($0) (\(preprocess))" } ?? preprocess.description)
        fields["upsample"] = fields["upsample"] ?? .null
        return fields
    }
}
