import Foundation

extension Objective: CustomStringConvertible {
    /// Parses the CLI objective syntax. Objectives are maximised; penalties take negative weights.
    ///
    /// ```
    /// expr     := product (("+" | "-") product)*
    /// product  := unary (("*" unary) | ("/" NUMBER))*       at most one factor may be an objective
    /// unary    := ("-" | "+") unary | primary
    /// primary  := NUMBER | "(" expr ")" | LAYER ":" INT      channel mean, e.g. mixed4a:97
    ///           | "class:" INT                               logit INT of the network output (pre-softmax)
    ///           | "tv" | "blur" | "l1" | "l2"                image penalties (TV, blur, L1/L2 with constant 0)
    ///           | "channel(" LAYER ":" INT ")"
    ///           | "neuron(" LAYER ":" INT [":" POS ":" POS] ")"            POS := INT | "_" (centre)
    ///           | "dir(" LAYER ":" VECTOR ["," NUMBER] ")"                  NUMBER: cosine-similarity power
    ///           | "dirneuron(" LAYER ":" VECTOR [":" POS ":" POS] ["," NUMBER] ")"
    ///           | "class(" LAYER ":" INT ")" | "deepdream(" LAYER ")" | "diversity(" LAYER ")"
    ///           | "l1(" NUMBER ")" | "l2(" NUMBER ["," NUMBER] ")"          constant [, epsilon]
    ///           | "icon(" INT "," expr ")"                                  applies only to icon INT of a batch
    /// LAYER    := [A-Za-z0-9_./]+ | "\"" any text (\" and \\ escaped) "\""
    /// VECTOR   := "[" NUMBER ("," NUMBER)* "]" | "@" PATH     PATH: .npy (float32/float64) or text of numbers
    /// ```
    /// Examples: `mixed4a:97 - 0.5*mixed3b:12`, `class:3`, `mixed4a:97 - 1e-3*tv`, `neuron(mixed4a:97:3:3)`,
    /// `dirneuron(mixed4c:@cell.npy, 4)`. Errors name the character position (counted from 1).
    public static func parse(_ text: String, loadVector: (String) throws -> [Float] = VectorFile.load) throws -> Objective {
        let value: ObjectiveParser.Value = try withoutActuallyEscaping(loadVector) { loader in
            var p = ObjectiveParser(text: text, loadVector: loader)
            let value = try p.expression()
            p.skipSpace()
            if p.pos < p.chars.count { throw p.fail("unexpected '\(p.chars[p.pos])'") }
            return value
        }
        guard case let .objective(o) = value else { throw ObjectiveError.parse(message: "a number alone is not an objective", position: 0) }
        return o
    }

    /// Canonical text in the `parse` syntax (vectors are written inline), so `parse(o.description) == o`.
    public var description: String {
        if terms.isEmpty { return "0*tv" }
        var out = ""
        for (i, t) in terms.enumerated() {
            var atom = ObjectiveParser.text(t.kind)
            if let icon = t.icon { atom = "icon(\(icon), \(atom))" }
            let mag = abs(t.weight)
            let body = mag == 1 ? atom : "\(mag)*\(atom)"
            if i == 0 { out = t.weight < 0 ? "-" + body : body } else { out += (t.weight < 0 ? " - " : " + ") + body }
        }
        return out
    }
}

struct ObjectiveParser {
    enum Value { case number(Float), objective(Objective) }

    let chars: [Character]
    var pos = 0
    let loadVector: (String) throws -> [Float]

    init(text: String, loadVector: @escaping (String) throws -> [Float]) {
        chars = Array(text)
        self.loadVector = loadVector
    }

    func fail(_ message: String, at: Int? = nil) -> ObjectiveError { .parse(message: message, position: at ?? pos) }

    mutating func skipSpace() { while pos < chars.count, chars[pos].isWhitespace { pos += 1 } }
    mutating func peek() -> Character? { skipSpace(); return pos < chars.count ? chars[pos] : nil }
    mutating func accept(_ c: Character) -> Bool {
        if peek() == c { pos += 1; return true }
        return false
    }
    mutating func expect(_ c: Character) throws {
        if !accept(c) { throw fail(peek().map { "expected '\(c)' but found '\($0)'" } ?? "expected '\(c)' at the end") }
    }

    static func isWordChar(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "/") }

    mutating func expression() throws -> Value {
        var lhs = try product()
        while let op = peek(), op == "+" || op == "-" {
            let at = pos
            pos += 1
            let rhs = try product()
            guard case let .objective(a) = lhs, case let .objective(b) = rhs else {
                throw fail("'\(op)' needs objectives on both sides (a constant has no gradient)", at: at)
            }
            lhs = .objective(op == "+" ? a + b : a - b)
        }
        return lhs
    }

    mutating func product() throws -> Value {
        var lhs = try unary()
        while let op = peek(), op == "*" || op == "/" {
            let at = pos
            pos += 1
            let rhs = try unary()
            switch (lhs, rhs, op) {
            case let (.number(a), .number(b), "*"): lhs = .number(a * b)
            case let (.number(a), .objective(o), "*"), let (.objective(o), .number(a), "*"): lhs = .objective(a * o)
            case let (.number(a), .number(b), "/") where b != 0: lhs = .number(a / b)
            case let (.objective(o), .number(b), "/") where b != 0: lhs = .objective((1 / b) * o)
            case (_, .number, "/"): throw fail("division by zero", at: at)
            default: throw fail("objectives can only be multiplied or divided by numbers", at: at)
            }
        }
        return lhs
    }

    mutating func unary() throws -> Value {
        if accept("-") {
            switch try unary() {
            case let .number(v): return .number(-v)
            case let .objective(o): return .objective(-o)
            }
        }
        if accept("+") { return try unary() }
        return try primary()
    }

    mutating func primary() throws -> Value {
        guard let c = peek() else { throw fail("expected an objective at the end") }
        let start = pos
        if c == "(" {
            pos += 1
            let v = try expression()
            try expect(")")
            return v
        }
        if c == "\"" {
            let layer = try quoted()
            try expect(":")
            return .objective(.channel(layer, try integer()))
        }
        guard ObjectiveParser.isWordChar(c) else { throw fail("unexpected '\(c)'") }
        let word = readWord()
        if peek() == ":" {
            pos += 1
            if word == "class" { return .objective(.classLogit(try integer())) }
            return .objective(.channel(word, try integer()))
        }
        if c.isNumber || c == "." {
            pos = start
            return .number(try number())
        }
        if peek() == "(" {
            pos += 1
            let o = try call(word, at: start)
            try expect(")")
            return .objective(o)
        }
        switch word {
        case "tv": return .objective(.totalVariation)
        case "blur": return .objective(.blur)
        case "l1": return .objective(.l1())
        case "l2": return .objective(.l2())
        default: throw fail("unknown objective '\(word)' (write LAYER:CHANNEL for a channel)", at: start)
        }
    }

    mutating func call(_ name: String, at start: Int) throws -> Objective {
        switch name {
        case "channel":
            let l = try layer(); try expect(":")
            return .channel(l, try integer())
        case "neuron":
            let l = try layer(); try expect(":")
            let ch = try integer()
            var x: Int?, y: Int?
            if accept(":") { x = try position(); try expect(":"); y = try position() }
            return .neuron(l, ch, x: x, y: y)
        case "dir", "dirneuron":
            let l = try layer(); try expect(":")
            let v = try vector()
            var x: Int?, y: Int?
            if name == "dirneuron", accept(":") { x = try position(); try expect(":"); y = try position() }
            let power: Float = accept(",") ? try number() : 0
            return name == "dir" ? .direction(l, v, cossimPower: power) : .directionNeuron(l, v, x: x, y: y, cossimPower: power)
        case "class":
            let l = try layer(); try expect(":")
            return .classLogit(try integer(), layer: l)
        case "deepdream": return .deepdream(try layer())
        case "diversity": return .diversity(try layer())
        case "l1": return .l1(constant: try number())
        case "l2":
            let c = try number()
            return accept(",") ? .l2(constant: c, epsilon: try number()) : .l2(constant: c)
        case "icon":
            let i = try integer(); try expect(",")
            guard case let .objective(o) = try expression() else { throw fail("icon(…) needs an objective") }
            return Objective(terms: o.terms.map { ObjectiveTerm(weight: $0.weight, kind: $0.kind, icon: i) })
        default:
            throw fail("unknown objective function '\(name)'", at: start)
        }
    }

    mutating func readWord() -> String {
        let s = pos
        while pos < chars.count, ObjectiveParser.isWordChar(chars[pos]) { pos += 1 }
        return String(chars[s..<pos])
    }

    mutating func quoted() throws -> String {
        let s = pos
        try expect("\"")
        var out = ""
        while pos < chars.count, chars[pos] != "\"" {
            if chars[pos] == "\\", pos + 1 < chars.count { pos += 1 }
            out.append(chars[pos])
            pos += 1
        }
        guard pos < chars.count else { throw fail("unterminated quoted name", at: s) }
        pos += 1
        return out
    }

    mutating func layer() throws -> String {
        if peek() == "\"" { return try quoted() }
        let s = pos
        let w = readWord()
        if w.isEmpty { throw fail("expected a layer name", at: s) }
        return w
    }

    mutating func integer() throws -> Int {
        _ = peek()
        let s = pos
        while pos < chars.count, chars[pos].isASCII, chars[pos].isNumber { pos += 1 }
        guard pos > s, let v = Int(String(chars[s..<pos])) else { throw fail("expected a non-negative integer", at: s) }
        return v
    }

    mutating func position() throws -> Int? { accept("_") ? nil : try integer() }

    /// A number: `[-+]? digits [. digits] [e [-+] digits]`.
    mutating func number() throws -> Float {
        _ = peek()
        let s = pos
        func digits() { while pos < chars.count, chars[pos].isASCII, chars[pos].isNumber { pos += 1 } }
        if pos < chars.count, chars[pos] == "-" || chars[pos] == "+" { pos += 1 }
        digits()
        if pos < chars.count, chars[pos] == "." { pos += 1; digits() }
        if pos < chars.count, chars[pos] == "e" || chars[pos] == "E" {
            pos += 1
            if pos < chars.count, chars[pos] == "-" || chars[pos] == "+" { pos += 1 }
            digits()
        }
        guard let v = Float(String(chars[s..<pos])), v.isFinite else { pos = s; throw fail("expected a number", at: s) }
        return v
    }

    mutating func vector() throws -> [Float] {
        if accept("[") {
            var v = [try number()]
            while accept(",") { v.append(try number()) }
            try expect("]")
            return v
        }
        guard accept("@") else { throw fail("expected a vector: [numbers] or @file") }
        let s = pos
        let path: String
        if peek() == "\"" { path = try quoted() } else {
            while pos < chars.count, !",):".contains(chars[pos]), !chars[pos].isWhitespace { pos += 1 }
            path = String(chars[s..<pos])
        }
        guard !path.isEmpty else { throw fail("expected a file name after '@'", at: s) }
        return try loadVector(path)
    }

    // MARK: canonical text

    static func text(_ kind: ObjectiveKind) -> String {
        func pos(_ v: Int?) -> String { v.map(String.init) ?? "_" }
        func vec(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
        switch kind {
        case let .channel(l, ch): return "\(name(l)):\(ch)"
        case let .neuron(l, ch, x, y): return x == nil && y == nil ? "neuron(\(name(l)):\(ch))" : "neuron(\(name(l)):\(ch):\(pos(x)):\(pos(y)))"
        case let .direction(l, v, p): return "dir(\(name(l)):\(vec(v))\(p == 0 ? "" : ",\(p)"))"
        case let .directionNeuron(l, v, x, y, p):
            let at = x == nil && y == nil ? "" : ":\(pos(x)):\(pos(y))"
            return "dirneuron(\(name(l)):\(vec(v))\(at)\(p == 0 ? "" : ",\(p)"))"
        case let .classLogit(l, k): return l == Objective.networkOutput ? "class:\(k)" : "class(\(name(l)):\(k))"
        case let .deepdream(l): return "deepdream(\(name(l)))"
        case let .diversity(l): return "diversity(\(name(l)))"
        case .totalVariation: return "tv"
        case .blur: return "blur"
        case let .l1(c): return c == 0 ? "l1" : "l1(\(c))"
        case let .l2(c, e): return e == 1e-6 ? (c == 0 ? "l2" : "l2(\(c))") : "l2(\(c),\(e))"
        }
    }

    /// A layer name as written in the syntax (quoted unless it is a plain word other than `class`).
    static func name(_ l: String) -> String {
        if !l.isEmpty, l != "class", l.allSatisfy(isWordChar) { return l }
        return "\"" + l.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
