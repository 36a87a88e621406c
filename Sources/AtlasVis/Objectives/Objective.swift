/// What one objective term measures (values are maximised; penalties are positive and take negative weights,
/// as in Lucid: `channel - 1e-3 * tv`). Per-icon values; the batch objective is the sum over icons.
public enum ObjectiveKind: Equatable, Sendable {
    /// `a[ch, y, x]` at one position (default the centre `(W/2, H/2)`, integer division, as Lucid).
    case neuron(layer: String, channel: Int, x: Int?, y: Int?)
    /// Mean of channel `ch` over all positions.
    case channel(layer: String, channel: Int)
    /// Mean over positions of Lucid's `_dot_cossim`: `dot(a, v) · max(0.1, cos(a, v))^p`, where
    /// `cos = dot / ((1e-4 + |a|)(1e-4 + |v|))`; `p = 0` gives the plain dot product.
    case direction(layer: String, vector: [Float], cossimPower: Float)
    /// `_dot_cossim` at one position (default centre). With `p` = 2…4 this is the activation-atlas icon objective;
    /// the atlas notebook's `direction_neuron_cossim_S` differs only by positive scale factors (mean instead of
    /// sum over channels, and no division by `|v|` inside the cosine) and the 0.1 floor position.
    case directionNeuron(layer: String, vector: [Float], x: Int?, y: Int?, cossimPower: Float)
    /// Pre-softmax logit `index` of a `[N, K]` (or `[N, K, 1, 1]`) layer; `Objective.networkOutput` names the output.
    case classLogit(layer: String, index: Int)
    /// Mean of squares over channels and positions (Mordvintsev et al.).
    case deepdream(layer: String)
    /// `tf.image.total_variation` of the image: Σ |x[y+1,x] − x[y,x]| + |x[y,x+1] − x[y,x]| over channels.
    case totalVariation
    /// Σ |x − constant| over the image.
    case l1(constant: Float)
    /// sqrt(epsilon + Σ (x − constant)²) over the image (Lucid: epsilon 1e-6).
    case l2(constant: Float, epsilon: Float)
    /// Lucid's `blur_input_each_step`: 0.5 Σ (x − blur(x))² with the blurred image held constant
    /// (stop-gradient), so the gradient is `x − blur(x)`; blur = 3×3 kernel (centre 1, ring 0.5), border-normalised.
    case blur
    /// Lucid's diversity: Gram matrices per icon, Frobenius-normalised; icon `i` gets Σ_{j≠i} ⟨Ĝi, Ĝj⟩ / N.
    /// The one term that couples icons: a batch containing it is not icon-independent.
    case diversity(layer: String)

    /// The layer this term reads, or nil for image terms.
    public var layer: String? {
        switch self {
        case let .neuron(l, _, _, _), let .channel(l, _), let .direction(l, _, _), let .directionNeuron(l, _, _, _, _),
             let .classLogit(l, _), let .deepdream(l), let .diversity(l):
            return l
        case .totalVariation, .l1, .l2, .blur:
            return nil
        }
    }

    /// The channels of `layer` this term reads (value and gradient), or nil for all of them (directions read
    /// every channel through the activation norm of their cosine).
    public var channelsRead: Set<Int>? {
        switch self {
        case let .neuron(_, c, _, _), let .channel(_, c): return [c]
        case .direction, .directionNeuron, .classLogit, .deepdream, .diversity, .totalVariation, .l1, .l2, .blur: return nil
        }
    }
}

/// One weighted term, optionally restricted to one icon of the batch.
public struct ObjectiveTerm: Equatable, Sendable {
    public var weight: Float
    public var kind: ObjectiveKind
    /// nil: applies to every icon; `i`: only to icon `i` (its value and gradient are zero elsewhere).
    public var icon: Int?

    public init(weight: Float = 1, kind: ObjectiveKind, icon: Int? = nil) {
        self.weight = weight
        self.kind = kind
        self.icon = icon
    }
}

/// A weighted sum of objective terms, possibly reading several layers and the image. Build with the static
/// constructors and `+`, `-`, `*`, or parse the CLI syntax with `Objective.parse`.
public struct Objective: Equatable, Sendable {
    public var terms: [ObjectiveTerm]

    public init(terms: [ObjectiveTerm]) { self.terms = terms }
    public init(_ kind: ObjectiveKind) { self.terms = [ObjectiveTerm(kind: kind)] }

    /// Layer name standing for the network's final output (`class:K`); the renderer substitutes the real name.
    public static let networkOutput = "@output"

    public static func neuron(_ layer: String, _ channel: Int, x: Int? = nil, y: Int? = nil) -> Objective {
        Objective(.neuron(layer: layer, channel: channel, x: x, y: y))
    }
    public static func channel(_ layer: String, _ channel: Int) -> Objective { Objective(.channel(layer: layer, channel: channel)) }
    public static func direction(_ layer: String, _ vector: [Float], cossimPower: Float = 0) -> Objective {
        Objective(.direction(layer: layer, vector: vector, cossimPower: cossimPower))
    }
    public static func directionNeuron(_ layer: String, _ vector: [Float], x: Int? = nil, y: Int? = nil,
                                       cossimPower: Float = 0) -> Objective {
        Objective(.directionNeuron(layer: layer, vector: vector, x: x, y: y, cossimPower: cossimPower))
    }
    public static func classLogit(_ index: Int, layer: String = networkOutput) -> Objective {
        Objective(.classLogit(layer: layer, index: index))
    }
    public static func deepdream(_ layer: String) -> Objective { Objective(.deepdream(layer: layer)) }
    public static let totalVariation = Objective(.totalVariation)
    public static func l1(constant: Float = 0) -> Objective { Objective(.l1(constant: constant)) }
    public static func l2(constant: Float = 0, epsilon: Float = 1e-6) -> Objective { Objective(.l2(constant: constant, epsilon: epsilon)) }
    public static let blur = Objective(.blur)
    public static func diversity(_ layer: String) -> Objective { Objective(.diversity(layer: layer)) }

    public static func + (a: Objective, b: Objective) -> Objective { Objective(terms: a.terms + b.terms) }
    public static func - (a: Objective, b: Objective) -> Objective { a + (-1 * b) }
    public static prefix func - (a: Objective) -> Objective { -1 * a }
    public static func * (w: Float, a: Objective) -> Objective {
        Objective(terms: a.terms.map { ObjectiveTerm(weight: w * $0.weight, kind: $0.kind, icon: $0.icon) })
    }
    public static func * (a: Objective, w: Float) -> Objective { w * a }

    /// One objective per icon: objective `i` applies to icon `i` of the batch (Lucid's `batch=i`).
    public static func perIcon(_ objectives: [Objective]) -> Objective {
        Objective(terms: objectives.enumerated().flatMap { i, o in
            o.terms.map { ObjectiveTerm(weight: $0.weight, kind: $0.kind, icon: i) }
        })
    }

    /// Layers the objective reads (sorted, unique); image terms read none.
    public var layers: [String] { Array(Set(terms.compactMap { $0.kind.layer })).sorted() }
    /// Per layer, the channels the terms read, for layers whose terms all name their channels (the network may
    /// then skip branches that produce none of them; see `Network.forward(_:capture:…channels:)`).
    public var channelsRead: [String: Set<Int>] {
        var out: [String: Set<Int>] = [:], all = Set<String>()
        for t in terms {
            guard let l = t.kind.layer else { continue }
            if let c = t.kind.channelsRead { out[l, default: []].formUnion(c) } else { all.insert(l) }
        }
        for l in all { out[l] = nil }
        return out
    }
    /// The objective of icons `range` of a batch as a batch of their own: per-icon terms are renumbered from 0 and
    /// terms of other icons dropped (for icon-independent objectives, its values equal those icons' values).
    public func restricted(to range: Range<Int>) -> Objective {
        Objective(terms: terms.compactMap { t in
            guard let i = t.icon else { return t }
            guard range.contains(i) else { return nil }
            var r = t
            r.icon = i - range.lowerBound
            return r
        })
    }

    /// Whether some term reads the image itself (TV, L1, L2, blur).
    public var readsImage: Bool { terms.contains { $0.kind.layer == nil } }
    /// Whether icons of a batch influence each other (diversity).
    public var couplesIcons: Bool { terms.contains { if case .diversity = $0.kind { return true } else { return false } } }
}

/// Why an objective cannot be evaluated on the given activations.
public enum ObjectiveError: Error, CustomStringConvertible, Equatable {
    case missingLayer(String)
    case badShape(layer: String, shape: [Int], need: String)
    case outOfRange(String)
    case missingImage
    case parse(message: String, position: Int)
    case vectorFile(path: String, message: String)

    public var description: String {
        switch self {
        case let .missingLayer(l): return "objective: no activations captured for layer '\(l)'"
        case let .badShape(l, s, need): return "objective: layer '\(l)' has shape \(s), needs \(need)"
        case let .outOfRange(m): return "objective: \(m)"
        case .missingImage: return "objective: image terms (tv, l1, l2, blur) need the image"
        case let .parse(m, p): return "objective: \(m) at character \(p + 1)"
        case let .vectorFile(path, m): return "objective: cannot read vector '\(path)': \(m)"
        }
    }
}
