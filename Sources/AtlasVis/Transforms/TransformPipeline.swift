import AtlasCore
import Foundation

/// A sequence of random transforms applied to every icon of a batch, each icon with its own draws.
///
/// Icon `i` at optimisation step `t` draws from `SplitMix64(seed: seeds[i], stream: t)`, every transform in order,
/// so an icon's transforms never depend on the other icons in its batch. Output sizes depend only on the input
/// size (see `Transform`), so all icons of a batch stay the same size.
public struct TransformPipeline: Equatable, Sendable, CustomStringConvertible {
    public var transforms: [Transform]

    public init(_ transforms: [Transform]) { self.transforms = transforms }

    /// No transforms.
    public static let none = TransformPipeline([])

    /// Lucid's scale list `[1 + (i − 5) / 50 for i in 0..<11]` (0.90 … 1.10).
    public static let standardScales: [Float] = (0..<11).map { Float(1 + Double($0 - 5) / 50) }
    /// Lucid's angle list `list(range(-10, 11)) + 5 * [0]` in degrees.
    public static let standardAngles: [Float] = (-10...10).map { Float($0) } + [Float](repeating: 0, count: 5)

    /// Lucid's `standard_transforms`: pad(12, 0.5), jitter(8), random scale, random rotate, jitter(4).
    public static let standard = TransformPipeline([
        .pad(12, .constant(0.5)), .jitter(8), .scale(standardScales), .rotate(standardAngles), .jitter(4),
    ])

    /// MACO's augmentations (Fel et al. 2023), one crop per icon and step: a random crop of 60–100 % of the
    /// side (centre 0.5 ± 0.15·N(0, 1), kept inside), zoomed back to the icon size, plus noise of sd 0.02.
    public static let maco = TransformPipeline([.crop(0.6, 1.0), .noise(0.02)])

    /// The transforms a parameterization uses unless told otherwise: `maco` for MACO, else `standard`.
    public static func defaults(for param: ParamKind) -> TransformPipeline { param == .maco ? .maco : .standard }

    public var description: String {
        if self == .standard { return "standard" }
        if self == .maco { return "maco" }
        return transforms.isEmpty ? "none" : transforms.map(\.description).joined(separator: ",")
    }

    /// Output height and width for an input of `height × width`.
    public func outputSize(height: Int, width: Int) throws -> (height: Int, width: Int) {
        var s = (height, width)
        for t in transforms { s = try t.outputSize(s.0, s.1) }
        return s
    }

    /// The draws of one icon at one step (one per transform).
    public func draws(seed: UInt64, step: Int) -> [TransformDraw] {
        var rng = SplitMix64(seed: seed, stream: UInt64(step))
        return transforms.map { $0.draw(&rng) }
    }

    /// Whether `t` runs icon by icon on all its planes at once (a warp, when there are icons enough for every thread)
    /// rather than plane by plane: the same bits either way.
    static func byIcon(_ t: Transform, icons: Int) -> Bool { t.warpsPlanes && icons >= Parallel.threadCount }

    /// Transforms `[N, C, H, W]` images; `seeds[i]` is icon `i`'s seed. Returns the output and what the backward needs.
    public func forward(_ images: Tensor, seeds: [UInt64], step: Int) throws -> (output: Tensor, record: TransformRecord) {
        guard images.rank == 4, images.shape[0] == seeds.count else {
            throw TransformError.batchMismatch(images: images.rank == 4 ? images.shape[0] : -1, seeds: seeds.count)
        }
        let n = images.shape[0], c = images.shape[1]
        var sizes = [(images.shape[2], images.shape[3])]
        for t in transforms { sizes.append(try t.outputSize(sizes.last!.0, sizes.last!.1)) }
        let draws = seeds.map { self.draws(seed: $0, step: step) }
        var x = images
        for (s, t) in transforms.enumerated() {
            let (h, w) = sizes[s], (oh, ow) = sizes[s + 1]
            let out = Tensor(uninitialized: [n, c, oh, ow])   // every transform writes its whole output plane
            let src = x
            if TransformPipeline.byIcon(t, icons: n) {
                Parallel.forEach(n) { i in
                    t.forwardPlanes(src.data + i * c * h * w, out.data + i * c * oh * ow, h, w, planes: c, draw: draws[i][s])
                }
            } else {
                Parallel.forEach(n * c) { job in
                    t.forward(src.data + job * h * w, h, w, out.data + job * oh * ow, oh, ow, draw: draws[job / c][s],
                              plane: job % c)
                }
            }
            x = out
        }
        if transforms.isEmpty { x = images.copy() }
        return (x, TransformRecord(channels: c, sizes: sizes, draws: draws))
    }

    /// Gradient w.r.t. the input images from the gradient w.r.t. `forward`'s output (the exact adjoint).
    public func backward(_ grad: Tensor, record: TransformRecord) -> Tensor {
        let n = record.draws.count, c = record.channels
        var g = grad
        for (s, t) in transforms.enumerated().reversed() {
            let (h, w) = record.sizes[s], (oh, ow) = record.sizes[s + 1]
            let gin = Tensor(uninitialized: [n, c, h, w])   // every adjoint zeroes its plane first
            let src = g
            if TransformPipeline.byIcon(t, icons: n) {
                Parallel.forEach(n) { i in
                    t.backwardPlanes(src.data + i * c * oh * ow, gin.data + i * c * h * w, h, w, planes: c,
                                     draw: record.draws[i][s])
                }
            } else {
                Parallel.forEach(n * c) { job in
                    t.backward(src.data + job * oh * ow, oh, ow, gin.data + job * h * w, h, w, draw: record.draws[job / c][s])
                }
            }
            g = gin
        }
        return transforms.isEmpty ? grad.copy() : g
    }
}

/// What a pipeline's backward needs from its forward: sizes before/after each transform and every icon's draws.
public struct TransformRecord: Sendable {
    public let channels: Int
    /// `sizes[s]` is the (height, width) entering transform `s`; the last entry is the output size.
    public let sizes: [(Int, Int)]
    /// `draws[icon][transform]`.
    public let draws: [[TransformDraw]]
}

extension TransformPipeline {
    /// Parses the `--transforms` option.
    ///
    /// Grammar (whitespace ignored; error positions count characters of the original text from 0):
    /// ```
    /// spec   := "none" | "standard" | item ("," item)*
    /// item   := "pad:" INT [":" NUMBER | ":reflect"]   constant value (default 0.5) or reflection
    ///         | "jitter:" INT                            random crop by up to INT pixels
    ///         | "scale:" NUMBER "-" NUMBER [":" INT]     INT evenly spaced factors (default: steps of 0.02)
    ///         | "scale:" NUMBER ("/" NUMBER)*            an explicit list of factors
    ///         | "rotate:" INT                            −INT…INT degrees plus INT/2 zeros (Lucid's list for 10)
    ///         | "rotate:" NUMBER ("/" NUMBER)*           an explicit list of angles in degrees
    ///         | "crop:" NUMBER "-" NUMBER                MACO crop of LO…HI of the side (0 < LO ≤ HI ≤ 1)
    ///         | "noise:" NUMBER                          MACO noise of that standard deviation (≥ 0)
    /// ```
    /// `standard` equals `pad:12:0.5,jitter:8,scale:0.9-1.1,rotate:10,jitter:4`; `maco` equals `crop:0.6-1.0,noise:0.02`.
    public static func parse(_ spec: String) throws -> TransformPipeline {
        let whole = spec.trimmingCharacters(in: .whitespaces)
        if whole == "none" || whole.isEmpty { return .none }
        if whole == "standard" { return .standard }
        if whole == "maco" { return .maco }
        var result = [Transform]()
        var start = 0
        for raw in spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            defer { start += raw.count + 1 }
            let item = raw.filter { !$0.isWhitespace }
            let at = start + raw.prefix(while: { $0.isWhitespace }).count
            func fail(_ m: String) -> TransformError { .parse(message: m, position: at) }
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            func int(_ i: Int, min lo: Int) throws -> Int {
                guard i < parts.count, let v = Int(parts[i]), v >= lo else {
                    throw fail("'\(item)': expected an integer ≥ \(lo)")
                }
                return v
            }
            func list(_ s: String, positive: Bool) throws -> [Float] {
                let vals = s.split(separator: "/", omittingEmptySubsequences: false).map { Float($0) }
                guard !vals.isEmpty, vals.allSatisfy({ $0 != nil && $0!.isFinite && (!positive || $0! > 0) }) else {
                    throw fail("'\(item)': expected \(positive ? "positive " : "")numbers separated by '/'")
                }
                return vals.map { $0! }
            }
            switch parts[0] {
            case "pad":
                guard parts.count <= 3 else { throw fail("'\(item)': expected pad:INT[:VALUE|:reflect]") }
                let w = try int(1, min: 0)
                if parts.count == 3 {
                    if parts[2] == "reflect" { result.append(.pad(w, .reflect)) } else if let v = Float(parts[2]), v.isFinite {
                        result.append(.pad(w, .constant(v)))
                    } else { throw fail("'\(item)': pad value must be a number or 'reflect'") }
                } else { result.append(.pad(w, .constant(0.5))) }
            case "jitter":
                guard parts.count == 2 else { throw fail("'\(item)': expected jitter:INT") }
                result.append(.jitter(try int(1, min: 0)))
            case "scale":
                guard parts.count == 2 || parts.count == 3, parts[1].count > 0 else {
                    throw fail("'\(item)': expected scale:LO-HI[:N] or scale:A/B/…")
                }
                let bounds = parts[1].split(separator: "-", omittingEmptySubsequences: false)
                if bounds.count == 2 {
                    guard let lo = Double(bounds[0]), let hi = Double(bounds[1]), lo > 0, hi >= lo else {
                        throw fail("'\(item)': scale range must be LO-HI with 0 < LO ≤ HI")
                    }
                    let steps = parts.count == 3 ? try int(2, min: 1) : Int(((hi - lo) / 0.02).rounded()) + 1
                    let n = max(steps - 1, 1)
                    result.append(.scale((0..<steps).map { Float(lo + (hi - lo) * Double($0) / Double(n)) }))
                } else {
                    guard parts.count == 2 else { throw fail("'\(item)': a count only follows a LO-HI range") }
                    result.append(.scale(try list(parts[1], positive: true)))
                }
            case "rotate":
                guard parts.count == 2 else { throw fail("'\(item)': expected rotate:INT or rotate:A/B/…") }
                if let d = Int(parts[1]), !parts[1].contains("/") {
                    guard d >= 0 else { throw fail("'\(item)': rotation range must be ≥ 0") }
                    result.append(.rotate((-d...d).map { Float($0) } + [Float](repeating: 0, count: d / 2)))
                } else {
                    result.append(.rotate(try list(parts[1], positive: false)))
                }
            case "crop":
                let bounds = parts.count == 2 ? parts[1].split(separator: "-", omittingEmptySubsequences: false) : []
                guard bounds.count == 2, let lo = Float(bounds[0]), let hi = Float(bounds[1]), lo > 0, lo <= hi, hi <= 1 else {
                    throw fail("'\(item)': expected crop:LO-HI with 0 < LO ≤ HI ≤ 1")
                }
                result.append(.crop(lo, hi))
            case "noise":
                guard parts.count == 2, let sd = Float(parts[1]), sd.isFinite, sd >= 0 else {
                    throw fail("'\(item)': expected noise:SD with SD ≥ 0")
                }
                result.append(.noise(sd))
            default:
                throw fail("unknown transform '\(parts[0])' (expected pad, jitter, scale, rotate, crop, noise, none, standard or maco)")
            }
        }
        return TransformPipeline(result)
    }
}

/// Encoded as its `description` (the `--transforms` spelling), decoded by `parse`: one spelling in recipes and keys.
extension TransformPipeline: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try TransformPipeline.parse(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "transforms '\(text)': \(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
