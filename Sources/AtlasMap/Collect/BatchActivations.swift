/// One batch of collection: truncated forward to the layer (and on to the logits), K seeded positions per image,
/// the activation vectors there, and the image's top classes scored by gradient × activation or logit.
import AtlasCore
import AtlasNet
import Foundation

/// Samples activations of one layer from image batches.
public struct ActivationSampler {
    public let network: Network
    /// ONNX value names of the layer and of the pre-softmax logits (nil with attribution off).
    public let value: String
    public let logits: String?
    public let perImage: Int
    public let top: Int
    public let attribution: AttributionMode
    public let seed: UInt64

    public init(network: Network, value: String, logits: String?, perImage: Int, top: Int,
                attribution: AttributionMode, seed: UInt64) {
        self.network = network; self.value = value; self.logits = attribution == .off ? nil : logits
        self.perImage = perImage; self.top = top; self.attribution = attribution; self.seed = seed
    }

    /// The `perImage` positions `(x, y)` of item `item` on a `width × height` layer: uniform draws (with
    /// replacement) from stream `item` of the seed, so they depend on nothing but (seed, item).
    public static func positions(seed: UInt64, item: Int, count: Int, width: Int, height: Int) -> [(x: Int, y: Int)] {
        var rng = SplitMix64(seed: seed, stream: UInt64(item))
        return (0..<count).map { _ in (rng.nextInt(below: max(1, width)), rng.nextInt(below: max(1, height))) }
    }

    /// Rows for `batch` (`[n, C, H, W]` network input) whose images are items `items`: the activation vectors
    /// (`n·perImage × C`, row-major, image by image) and one record per row (`image` left empty). Runs on the accurate
    /// convolution path (`Conv2D.withAccurateGradients`): the records' attributions are gradients.
    public func sample(_ batch: Tensor, items: [Int]) throws -> (rows: [Float], channels: Int, records: [CollectRecord]) {
        try Conv2D.withAccurateGradients { try sampleBatch(batch, items: items) }
    }

    private func sampleBatch(_ batch: Tensor, items: [Int]) throws -> (rows: [Float], channels: Int, records: [CollectRecord]) {
        var capture: Set<String> = [value]
        if let logits { capture.insert(logits) }
        let out = try network.forward(batch, capture: capture, keepForBackward: attribution == .gradxact)
        guard let act = out[value] else { throw CollectError.badPart("the layer '\(value)' produced nothing") }
        let n = items.count
        guard act.shape.first == n, act.rank == 4 || act.rank == 2 else {
            throw CollectError.invalidSettings("layer '\(value)' has shape \(act.shape); need [N, C, H, W] or [N, C]")
        }
        let c = act.shape[1], h = act.rank == 4 ? act.shape[2] : 1, w = act.rank == 4 ? act.shape[3] : 1
        let plane = h * w
        let where_ = items.map { ActivationSampler.positions(seed: seed, item: $0, count: perImage, width: w, height: h) }

        var rows = [Float](repeating: 0, count: n * perImage * c)
        for b in 0..<n {
            for (k, p) in where_[b].enumerated() {
                let base = act.data + b * c * plane + p.y * w + p.x
                for j in 0..<c { rows[(b * perImage + k) * c + j] = base[j * plane] }
            }
        }
        var classes = [[Int]](repeating: [], count: n)
        var values = [[[Float]]](repeating: [[Float]](repeating: [], count: perImage), count: n)
        if let logits, let y = out[logits] {
            guard y.shape.first == n, y.count % max(n, 1) == 0 else {
                throw CollectError.invalidSettings("the logits '\(logits)' have shape \(y.shape); need [N, classes]")
            }
            let k = y.count / max(n, 1)
            for b in 0..<n {
                let row = y.data + b * k
                classes[b] = Array((0..<k).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(top))
                if attribution == .logit {
                    for s in 0..<perImage { values[b][s] = classes[b].map { row[$0] } }
                }
            }
            if attribution == .gradxact {
                let ranks = classes.map(\.count).max() ?? 0
                for r in 0..<ranks {
                    // One backward per rank: row b is seeded at its own r-th class (images do not interact).
                    let seedTensor = Tensor(zeros: y.shape)
                    for b in 0..<n where r < classes[b].count { seedTensor.data[b * k + classes[b][r]] = 1 }
                    let g = try network.backward(from: [logits: seedTensor], at: [value], keepForward: r < ranks - 1)[value]!
                    for b in 0..<n where r < classes[b].count {
                        for (s, p) in where_[b].enumerated() {
                            let offset = b * c * plane + p.y * w + p.x
                            var dot = 0.0
                            for j in 0..<c { dot += Double(g.data[offset + j * plane]) * Double(act.data[offset + j * plane]) }
                            values[b][s].append(Float(dot))
                        }
                    }
                }
            }
        }
        var records: [CollectRecord] = []
        records.reserveCapacity(n * perImage)
        for b in 0..<n {
            for (s, p) in where_[b].enumerated() {
                records.append(CollectRecord(item: items[b], image: "", x: p.x, y: p.y, classes: classes[b], values: values[b][s]))
            }
        }
        return (rows, c, records)
    }
}
