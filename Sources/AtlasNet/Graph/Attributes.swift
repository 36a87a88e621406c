/// Typed attribute access with ONNX defaults; a present attribute of the wrong kind is an `invalidNode` error.
extension Node {
    func invalid(_ reason: String) -> ModelError { .invalidNode(node: name, op: opType, reason: reason) }

    /// Integer attribute, or `fallback` when absent.
    public func int(_ key: String, default fallback: Int) throws -> Int {
        guard let a = attributes[key] else { return fallback }
        switch a {
        case let .int(v): return v
        case let .float(f) where f == f.rounded() && abs(f) < 1e15: return Int(f)
        default: throw invalid("attribute '\(key)' must be an integer")
        }
    }

    /// Required integer attribute.
    public func int(_ key: String) throws -> Int {
        guard attributes[key] != nil else { throw invalid("missing attribute '\(key)'") }
        return try int(key, default: 0)
    }

    /// Float attribute, or `fallback` when absent.
    public func float(_ key: String, default fallback: Float) throws -> Float {
        guard let a = attributes[key] else { return fallback }
        switch a {
        case let .float(v): return v
        case let .int(v): return Float(v)
        default: throw invalid("attribute '\(key)' must be a float")
        }
    }

    /// Integer-list attribute, or nil when absent.
    public func ints(_ key: String) throws -> [Int]? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case let .ints(v): return v
        case let .int(v): return [v]
        default: throw invalid("attribute '\(key)' must be a list of integers")
        }
    }

    /// Float-list attribute, or nil when absent.
    public func floats(_ key: String) throws -> [Float]? {
        guard let a = attributes[key] else { return nil }
        switch a {
        case let .floats(v): return v
        case let .float(v): return [v]
        case let .ints(v): return v.map { Float($0) }
        default: throw invalid("attribute '\(key)' must be a list of floats")
        }
    }

    /// String attribute, or `fallback` when absent.
    public func string(_ key: String, default fallback: String) throws -> String {
        guard let a = attributes[key] else { return fallback }
        guard case let .string(s) = a else { throw invalid("attribute '\(key)' must be a string") }
        return s
    }

    /// Tensor attribute, or nil when absent.
    public func tensor(_ key: String) throws -> Constant? {
        guard let a = attributes[key] else { return nil }
        guard case let .tensor(t) = a else { throw invalid("attribute '\(key)' must be a tensor") }
        return t
    }

    /// Graph attribute, or nil when absent.
    public func graph(_ key: String) throws -> Graph? {
        guard let a = attributes[key] else { return nil }
        guard case let .graph(g) = a else { throw invalid("attribute '\(key)' must be a graph") }
        return g
    }
}
