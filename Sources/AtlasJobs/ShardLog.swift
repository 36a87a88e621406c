/// `ShardLog`: keeps a shard's manifest up to date while the shard runs, and tells which finished items of an
/// earlier (killed) run of the same shard can be trusted.
import AtlasOutput
import Foundation

/// The manifest of one running shard. Record each finished item with `finished`, then `write` (atomically)
/// after every batch, with `complete: true` once all owned items are done.
public final class ShardLog {
    public let folder: OutputFolder
    public let kind: String
    public let spec: ShardSpec
    public let total: Int
    public let settings: JSONValue
    /// Files per item from an earlier manifest of the same shard and settings.
    private let previous: [Int: [ShardFile]]
    private var files: [Int: [ShardFile]] = [:]

    public init(folder: OutputFolder, kind: String, spec: ShardSpec, total: Int, settings: JSONValue) throws {
        self.folder = folder; self.kind = kind; self.spec = spec; self.total = total; self.settings = settings
        let path = folder.file(ShardManifest.path(kind: kind, spec: spec))
        let earlier = (try? ShardManifest.read(path)) ?? nil
        if let earlier, earlier.fingerprint == (try ShardManifest.fingerprint(settings)), earlier.total == total {
            previous = Dictionary(grouping: earlier.files, by: \.item)
        } else {
            previous = [:]
        }
    }

    /// False when an earlier manifest lists a file of `item` whose bytes have changed since (corrupt or partial);
    /// true otherwise (including when nothing was recorded).
    public func matches(item: Int) -> Bool {
        (previous[item] ?? []).allSatisfy { f in
            guard let data = FileManager.default.contents(atPath: folder.file(f.path)) else { return false }
            return data.count == f.bytes && SHA256.hex(data) == f.sha256
        }
    }

    /// Records the files of a finished item (hashing them as they are on disk now).
    public func finished(item: Int, files paths: [String]) throws {
        files[item] = try paths.map { try ShardManifest.record(folder, item: item, path: $0) }
    }

    /// Writes the manifest atomically.
    public func write(complete: Bool) throws {
        let listed = files.keys.sorted().flatMap { files[$0]! }
        try ShardManifest(kind: kind, spec: spec, total: total, files: listed, complete: complete, settings: settings)
            .write(to: folder)
    }
}
