/// `ActivationSet`: a whole collection read back into memory — the `[N, C]` matrix the layout and grids need,
/// and one record per row.
import AtlasCore
import AtlasNet
import AtlasOutput
import Foundation

public struct ActivationSet: @unchecked Sendable {
    public let manifest: CollectManifest
    /// All rows of all parts, `[N, C]`, in part order.
    public let activations: Tensor
    public let records: [CollectRecord]

    /// Reads every part listed in `DIR/collect.json`, checking row counts and shapes (and, with `verify`, the
    /// SHA-256 of every file). Throws `CollectError`.
    public init(directory: String, verify: Bool = false) throws {
        let manifest = try CollectManifest.read(directory: directory)
        let n = manifest.rows, c = manifest.channels
        let activations = Tensor(zeros: [n, c])
        var records: [CollectRecord] = []
        records.reserveCapacity(n)
        var row = 0
        let decoder = JSONDecoder()
        for part in manifest.parts {
            let npyPath = "\(directory)/\(part.npy)", jsonlPath = "\(directory)/\(part.jsonl)"
            guard let npyData = FileManager.default.contents(atPath: npyPath),
                  let jsonlData = FileManager.default.contents(atPath: jsonlPath) else {
                throw CollectError.badPart("\(part.npy) or \(part.jsonl) listed in collect.json is missing")
            }
            if verify, SHA256.hex(npyData) != part.npySHA256 || SHA256.hex(jsonlData) != part.jsonlSHA256 {
                throw CollectError.badPart("\(part.npy)/\(part.jsonl): SHA-256 differs from collect.json")
            }
            let t: Tensor
            do { t = try NPY.decode(npyData) } catch { throw CollectError.badPart("\(part.npy): \(error)") }
            guard t.shape == [part.rows, c] || (part.rows == 0 && t.count == 0) else {
                throw CollectError.badPart("\(part.npy) has shape \(t.shape), collect.json says [\(part.rows), \(c)]")
            }
            (activations.data + row * c).update(from: t.data, count: part.rows * c)
            row += part.rows
            for line in jsonlData.split(separator: 10) where !line.isEmpty {
                do { records.append(try decoder.decode(CollectRecord.self, from: Data(line))) }
                catch { throw CollectError.badPart("\(part.jsonl): \(error)") }
            }
            guard records.count == row else {
                throw CollectError.badPart("\(part.jsonl) has \(records.count - row + part.rows) records for \(part.rows) rows")
            }
        }
        self.manifest = manifest
        self.activations = activations
        self.records = records
    }
}
