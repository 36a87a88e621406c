/// Per-channel statistics of a layer over a dataset, in bounded memory: the top-k (and bottom-k) images by the
/// channel's spatial max (min), the position where it is reached, and a histogram of those maxima. Summaries of
/// disjoint item ranges merge exactly (`merged`), so parts, resumed runs and shards give the same bytes.
import AtlasCore
import Foundation

/// One dataset exemplar of a channel: the image (item number and relative name), the layer cell where the
/// channel peaks on it and the activation there.
public struct UnitExemplar: Codable, Sendable, Equatable {
    public var item: Int
    public var image: String
    public var x: Int
    public var y: Int
    public var value: Float
    /// The channel's map on this image (UnitHeat), for 2-D layers; nil for `[N, C]` layers.
    public var heat: String?

    public init(item: Int, image: String, x: Int, y: Int, value: Float, heat: String? = nil) {
        self.item = item; self.image = image; self.x = x; self.y = y; self.value = value; self.heat = heat
    }

    /// Ranking order of the top list: larger value first, then smaller item, then smaller position (row-major);
    /// `descending: false` ranks smaller values first (the bottom list) with the same tie-breaks.
    public static func precedes(_ a: UnitExemplar, _ b: UnitExemplar, descending: Bool) -> Bool {
        if a.value != b.value { return descending ? a.value > b.value : a.value < b.value }
        if a.item != b.item { return a.item < b.item }
        return a.y != b.y ? a.y < b.y : a.x < b.x
    }

    /// The first `k` of `list` in ranking order.
    static func best(_ list: [UnitExemplar], k: Int, descending: Bool) -> [UnitExemplar] {
        Array(list.sorted { precedes($0, $1, descending: descending) }.prefix(k))
    }
}

/// Histogram of per-image channel maxima on fixed, data-independent bins (so partial histograms add up): bin 0
/// holds |v| < 2⁻²⁰; bin ±k (k ≥ 1) holds the sign of v and |v| in [2^e·(1 + q/4), 2^e·(1 + (q+1)/4)) with
/// k = 4·(e + 20) + q + 1, e clamped to −20…43 (±257: infinities and NaN).
public enum UnitHistogram {
    public static func bin(_ v: Float) -> Int {
        let m = v.magnitude
        guard m >= 0x1p-20, m.isFinite else { return m.isFinite ? 0 : (v > 0 ? 257 : -257) }
        let bits = m.bitPattern
        let e = min(43, Int(bits >> 23) - 127), q = Int((bits >> 21) & 3)
        let k = 4 * (e + 20) + q + 1
        return v < 0 ? -k : k
    }

    /// The half-open value range `[lo, hi)` of bin `k` (for negative bins: `(lo, hi]`).
    public static func range(_ k: Int) -> (lo: Float, hi: Float) {
        if k == 0 { return (-0x1p-20, 0x1p-20) }
        if k.magnitude >= 257 { return k > 0 ? (.greatestFiniteMagnitude, .infinity) : (-.infinity, -.greatestFiniteMagnitude) }
        let a = Int(k.magnitude) - 1, e = a / 4 - 20, q = a % 4
        let lo = Float(sign: .plus, exponent: e, significand: 1 + Float(q) / 4)
        let hi = Float(sign: .plus, exponent: e, significand: 1 + Float(q + 1) / 4)
        return k > 0 ? (lo, hi) : (-hi, -lo)
    }

    /// `[bin, count]` pairs in bin order, empty bins left out.
    static func pairs(_ bins: [Int: Int]) -> [[Int]] { bins.keys.sorted().map { [$0, bins[$0]!] } }
}

/// A channel's map on one image, small: max-pooled to at most `side × side` cells, `sign`·value scaled to 0…255 by
/// its maximum (negatives and an all-negative map give 0), as `"<h>x<w>:<base64 of the bytes>"` in row-major order.
public enum UnitHeat {
    public static let side = 16

    public static func encode(_ p: UnsafePointer<Float>, height h: Int, width w: Int, sign: Float) -> String {
        let f = (max(h, w) + side - 1) / side
        let (oh, ow) = ((h + f - 1) / f, (w + f - 1) / f)
        var cells = [Float](repeating: 0, count: oh * ow)
        for y in 0..<h { for x in 0..<w { cells[(y / f) * ow + x / f] = max(cells[(y / f) * ow + x / f], sign * p[y * w + x]) } }
        let top = cells.max() ?? 0
        let bytes = cells.map { top > 0 ? UInt8((255 * $0 / top).rounded()) : 0 }
        return "\(oh)x\(ow):" + Data(bytes).base64EncodedString()
    }

    /// `(height, width, bytes)` of an encoded map; nil when malformed.
    public static func decode(_ text: String) -> (height: Int, width: Int, bytes: [UInt8])? {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let dims = parts[0].split(separator: "x").compactMap { Int($0) }
        guard dims.count == 2, dims[0] > 0, dims[1] > 0, let data = Data(base64Encoded: String(parts[1])),
              data.count == dims[0] * dims[1] else { return nil }
        return (dims[0], dims[1], Array(data))
    }
}

/// The statistics of one channel over a set of images.
public struct ChannelSummary: Codable, Sendable, Equatable {
    public var channel: Int
    /// Images seen, and images whose spatial max is > 0 (the channel fires).
    public var images: Int
    public var fired: Int
    /// Best images first (`top`), and with negatives the lowest spatial minima first (`bottom`).
    public var top: [UnitExemplar]
    public var bottom: [UnitExemplar]
    /// Histogram of spatial maxima: `[bin, count]` pairs in bin order (UnitHistogram), empty bins left out.
    public var histogram: [[Int]]

    public init(channel: Int) {
        self.channel = channel; images = 0; fired = 0; top = []; bottom = []; histogram = []
    }

    /// The union of two summaries of disjoint image sets, keeping `k` exemplars per list.
    public func merged(_ o: ChannelSummary, k: Int) -> ChannelSummary {
        var m = self
        m.images += o.images
        m.fired += o.fired
        m.top = UnitExemplar.best(top + o.top, k: k, descending: true)
        m.bottom = UnitExemplar.best(bottom + o.bottom, k: k, descending: false)
        var bins: [Int: Int] = [:]
        for pair in histogram + o.histogram { bins[pair[0], default: 0] += pair[1] }
        m.histogram = UnitHistogram.pairs(bins)
        return m
    }

    /// Merges the summaries of disjoint image sets channel by channel (same channel order in each part).
    public static func merge(_ a: [ChannelSummary], _ b: [ChannelSummary], k: Int) -> [ChannelSummary] {
        zip(a, b).map { $0.merged($1, k: k) }
    }
}

/// Accumulates channel summaries batch by batch; memory holds `channels × 2k` exemplars and the histograms.
public struct UnitAccumulator {
    /// The layer channels summarized, in order.
    public let channels: [Int]
    public let k: Int
    public let negatives: Bool
    private var summaries: [ChannelSummary]
    private var bins: [[Int: Int]]

    public init(channels: [Int], k: Int, negatives: Bool) {
        self.channels = channels; self.k = k; self.negatives = negatives
        summaries = channels.map { ChannelSummary(channel: $0) }
        bins = [[Int: Int]](repeating: [:], count: channels.count)
    }

    /// Adds a batch of layer activations `[n, C, H, W]` (or `[n, C]`) of items `items` named `names`.
    /// Per image and channel the spatial max (min) and its first position in row-major order are ranked.
    public mutating func add(_ act: Tensor, items: [Int], names: [String]) {
        let n = items.count, c = act.shape[1]
        let h = act.rank == 4 ? act.shape[2] : 1, w = act.rank == 4 ? act.shape[3] : 1, plane = h * w
        let (k, negatives, channels) = (self.k, self.negatives, self.channels)
        let old = (summaries, bins)
        let updated: [(ChannelSummary, [Int: Int])] = Parallel.mapChunks(channels.count) { j in
            var s = old.0[j], b = old.1[j]
            var top: [UnitExemplar] = [], bottom: [UnitExemplar] = []
            top.reserveCapacity(n)
            for i in 0..<n {
                let p = act.data + (i * c + channels[j]) * plane
                var hiAt = 0, loAt = 0
                for q in 1..<max(1, plane) {
                    if p[q] > p[hiAt] { hiAt = q }
                    if p[q] < p[loAt] { loAt = q }
                }
                s.images += 1
                if p[hiAt] > 0 { s.fired += 1 }
                b[UnitHistogram.bin(p[hiAt]), default: 0] += 1
                top.append(UnitExemplar(item: items[i], image: names[i], x: hiAt % w, y: hiAt / w, value: p[hiAt]))
                if negatives { bottom.append(UnitExemplar(item: items[i], image: names[i], x: loAt % w, y: loAt / w, value: p[loAt])) }
            }
            s.top = UnitExemplar.best(s.top + top, k: k, descending: true)
            if negatives { s.bottom = UnitExemplar.best(s.bottom + bottom, k: k, descending: false) }
            if plane > 1 {
                // Maps only for the exemplars this batch brought in (those without one yet).
                let row = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1, $0) })
                let map = { (e: inout UnitExemplar, sign: Float) in
                    if e.heat == nil, let i = row[e.item] {
                        e.heat = UnitHeat.encode(act.data + (i * c + channels[j]) * plane, height: h, width: w, sign: sign)
                    }
                }
                for q in s.top.indices { map(&s.top[q], 1) }
                for q in s.bottom.indices { map(&s.bottom[q], -1) }
            }
            return (s, b)
        }
        summaries = updated.map(\.0)
        bins = updated.map(\.1)
    }

    /// The summaries with their histograms filled in.
    public var result: [ChannelSummary] {
        summaries.enumerated().map { j, s in
            var s = s
            s.histogram = UnitHistogram.pairs(bins[j])
            return s
        }
    }
}
