/// Names by which users pick layers: every ONNX value name, plus short aliases derived from the exporter's
/// module path (`/features/features.10/MaxPool_output_0` → `features.10`,
/// `/layer1/layer1.0/relu_1/Relu_output_0` → `layer1.0.relu_1`). A module's alias (and each enclosing module's)
/// names the output of the last node inside it. Aliases that would be ambiguous are dropped.
public struct LayerNames: Sendable {
    /// Alias → value name.
    public let aliases: [String: String]
    /// Value name → its alias, for listing.
    public let aliasOf: [String: String]
    /// Every value a user may name: runtime inputs, node outputs and constants.
    public let values: Set<String>

    /// `views` maps values to the token-grid views that their aliases name instead (`TokenLayout`).
    public init(graph: Graph, views: [String: String] = [:]) {
        var values = Set(graph.inputs.map(\.name)).union(graph.constants.keys)
        for n in graph.nodes { values.formUnion(n.outputs.filter { !$0.isEmpty }) }
        var target: [String: String] = [:]      // alias → value (the last node in the module wins)
        var spelling: [String: String] = [:]    // alias → the raw scope it came from
        var ambiguous = Set<String>()
        for n in graph.nodes where !(n.domain == Passes.atlasDomain && n.opType == TokenLayout.viewOp) {
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
        self.aliases = aliases
        self.aliasOf = aliasOf
        self.values = values
    }

    /// The value a user-given name refers to (a value name or an alias), or nil.
    public func resolve(_ name: String) -> String? {
        if values.contains(name) { return name }
        return aliases[name]
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
