/// Names by which users pick layers: every ONNX value name, plus short aliases derived from the exporter's
/// module path (`/features/features.10/MaxPool_output_0` → `features.10`,
/// `/layer1/layer1.0/relu_1/Relu_output_0` → `layer1.0.relu_1`). A module's alias (and each enclosing module's)
/// names the output of the last node inside it. Aliases that would be ambiguous are dropped. A token layer's name
/// (alias or value) followed by `::cls` names its class-token view (`TokenLayout`).
public struct LayerNames: Sendable {
    /// Alias → value name.
    public let aliases: [String: String]
    /// Value name → its alias, for listing.
    public let aliasOf: [String: String]
    /// Every value a user may name: runtime inputs, node outputs and constants.
    public let values: Set<String>
    /// Value → its class-token view (`NAME::cls`), for the token values that have one.
    public let classViews: [String: String]
    /// Token-grid view → the value it shows.
    let viewed: [String: String]

    /// `views` maps values to the token-grid views that their aliases name instead, `classViews` values to their
    /// class-token views (`TokenLayout`).
    public init(graph: Graph, views: [String: String] = [:], classViews: [String: String] = [:]) {
        var values = Set(graph.inputs.map(\.name)).union(graph.constants.keys)
        for n in graph.nodes { values.formUnion(n.outputs.filter { !$0.isEmpty }) }
        var target: [String: String] = [:]      // alias → value (the last node in the module wins)
        var spelling: [String: String] = [:]    // alias → the raw scope it came from
        var ambiguous = Set<String>()
        for n in graph.nodes where !TokenLayout.isView(n) {
            guard let out = n.outputs.first(where: { !$0.isEmpty }),
                  let scopes = LayerNames.scopes(out) ?? LayerNames.scopes(n.name) else { continue }
            for (raw, alias) in scopes {
                if let s = spelling[alias], s != raw { ambiguous.insert(alias) }
                spelling[alias] = raw
                target[alias] = out
            }
        }
        var aliases: [String: String] = [:]
        for (alias, value) in target where !ambiguous.contains(alias) && !values.contains(alias) {
            aliases[alias] = views[value] ?? value
        }
        var aliasOf: [String: String] = [:]
        for (alias, value) in aliases {
            // The innermost (longest) alias describes a value best.
            if let old = aliasOf[value], old.count >= alias.count { continue }
            aliasOf[value] = alias
        }
        let viewed = Dictionary(views.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        for (value, view) in classViews {
            if let alias = aliasOf[views[value] ?? value] { aliasOf[view] = alias + TokenLayout.classSuffix }
        }
        self.aliases = aliases
        self.aliasOf = aliasOf
        self.values = values
        self.classViews = classViews
        self.viewed = viewed
    }

    /// The value a user-given name refers to (a value name, an alias, either with `::cls`), or nil.
    public func resolve(_ name: String) -> String? {
        if values.contains(name) { return name }
        if let alias = aliases[name] { return alias }
        guard name.hasSuffix(TokenLayout.classSuffix), let base = resolve(String(name.dropLast(TokenLayout.classSuffix.count))) else {
            return nil
        }
        return classViews[viewed[base] ?? base]
    }

    /// The value `name` refers to, or why there is none: `ModelError.noClassToken` for `NAME::cls` of a layer that
    /// is not a token layer, else `ModelError.unknownLayer`.
    public func value(_ name: String) throws -> String {
        if let v = resolve(name) { return v }
        if name.hasSuffix(TokenLayout.classSuffix), resolve(String(name.dropLast(TokenLayout.classSuffix.count))) != nil {
            throw ModelError.noClassToken(layer: name, reason: "it is not a token layer with an alias ([batch, tokens, channels] "
                                          + "features on the last axis); its features are on axis 1, as in a CNN, or it has no alias")
        }
        throw ModelError.unknownLayer(name)
    }

    /// Qualified module name of an exporter path (`/layer1/layer1.0/relu_1/Relu_output_0` → `layer1.0.relu_1`),
    /// or nil when the name carries no module path.
    public static func modulePath(_ name: String) -> String? { scopes(name)?.last?.alias }

    /// (raw scope, qualified alias) for each enclosing module, outermost first.
    static func scopes(_ name: String) -> [(raw: String, alias: String)]? {
        guard name.hasPrefix("/") else { return nil }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard parts.count >= 2 else { return nil }
        var result: [(String, String)] = []
        var qualified = ""
        var raw = ""
        var previous = ""
        for p in parts.dropLast() {
            guard !p.isEmpty else { return result.isEmpty ? nil : result }
            let c = String(p)
            // torch names a child by its own name (`relu_1`), by the full dotted path (`features.10` under
            // `/features`), or by its parent's name plus its index (`conv1.0` under `/features/conv1`).
            if qualified.isEmpty || c.hasPrefix(qualified + ".") {
                qualified = c
            } else if !previous.isEmpty, c.hasPrefix(previous + "."), qualified.hasSuffix(previous) {
                qualified = String(qualified.dropLast(previous.count)) + c
            } else {
                qualified += "." + c
            }
            previous = c
            raw += "/" + c
            result.append((raw, qualified))
        }
        return result.isEmpty ? nil : result
    }
}
