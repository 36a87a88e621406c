/// `RenderOptions` is Codable so that recipes, icon keys and indexes all derive from one encoding of it:
/// a field added to `RenderOptions` is part of every record without being listed again anywhere.
extension ParamKind: Codable {}

extension RenderOptions {
    /// The options as far as an icon's pixels depend on them (snapshot `thresholds` do not change the result).
    public var pixelRecipe: RenderOptions {
        var o = self
        o.thresholds = []
        return o
    }
}
