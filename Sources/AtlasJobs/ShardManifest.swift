/// Shard manifests: what one shard of a split job wrote, so that `atlas merge` can check and assemble the
/// shards of a shared output folder without the model or the original command line.
///
/// The contract for any kind of sharded job (`gallery`: icons; `collect`: parts; `map`: atlas icons):
/// - the job has `total` items in a fixed order; shard `i/n` owns items `i, i+n, i+2n, …` (`ShardSpec`);
/// - every shard writes only its own files, each atomically, then `shards/<kind>-<i>-of-<n>.json` (this manifest,
///   also atomically) listing its items and, per item, every file with its SHA-256; `complete` turns true only
///   when all of the shard's items are on disk;
/// - `settings` holds everything the final assembly depends on (model SHA-256, layer, items, render options,
///   seed, format, …) as canonical JSON; `fingerprint` is the SHA-256 of that JSON, so shards of one job agree
///   on it and shards of different jobs do not;
/// - a `ShardAssembler` registered for the kind turns verified shards into the final output from `settings`
///   alone (plus inputs that `settings` pins by SHA-256, such as a map's collection and layout), with the same
///   code path as a single-machine run, so the merged folder is byte-identical.
import AtlasOutput
import Foundation

/// One file a shard wrote, relative to the output folder.
public struct ShardFile: Codable, Sendable, Equatable {
    /// The item (index in the job's item order) the file belongs to.
    public var item: Int
    /// Folder-relative path, e.g. `icons/c0003.png`.
    public var path: String
    /// Lower-case hex SHA-256 of the file's bytes.
    public var sha256: String
    public var bytes: Int

    public init(item: Int, path: String, sha256: String, bytes: Int) {
        self.item = item; self.path = path; self.sha256 = sha256; self.bytes = bytes
    }
}

/// `shards/<kind>-<i>-of-<n>.json`: the record of one shard's output.
public struct ShardManifest: Codable, Sendable, Equatable {
    public struct Shard: Codable, Sendable, Equatable {
        public var index: Int
        public var count: Int
    }

    public var format = "atlas-shard"
    public var version = 1
    /// Job kind, e.g. `gallery`; selects the `ShardAssembler`.
    public var kind: String
    /// SHA-256 of the canonical JSON of `settings`.
    public var fingerprint: String
    public var shard: Shard
    /// Items in the whole job.
    public var total: Int
    /// The items this shard owns (`ShardSpec.items(of: total)`).
    public var items: [Int]
    /// Files written for finished items, in item order.
    public var files: [ShardFile]
    /// True when every owned item is finished.
    public var complete: Bool
    /// Everything the assembly depends on (kind-specific).
    public var settings: JSONValue

    public init(kind: String, spec: ShardSpec, total: Int, files: [ShardFile], complete: Bool, settings: JSONValue) throws {
        self.kind = kind
        self.shard = Shard(index: spec.index, count: spec.count)
        self.total = total
        self.items = spec.items(of: total)
        self.files = files
        self.complete = complete
        self.settings = settings
        self.fingerprint = try ShardManifest.fingerprint(settings)
    }

    /// Folder-relative path of the manifest of shard `spec` of a `kind` job.
    public static func path(kind: String, spec: ShardSpec) -> String { "shards/\(kind)-\(spec.index)-of-\(spec.count).json" }

    /// The manifest's own folder-relative path.
    public var path: String { "shards/\(kind)-\(shard.index)-of-\(shard.count).json" }

    /// SHA-256 of the canonical (sorted keys, no whitespace) JSON of `settings`.
    public static func fingerprint(_ settings: JSONValue) throws -> String { try CanonicalJSON.sha256(settings) }

    /// Canonical JSON (`CanonicalJSON`): sorted keys, no whitespace, `/` unescaped.
    public static func canonicalJSON<T: Encodable>(_ value: T) throws -> Data { try CanonicalJSON.encode(value) }

    /// Converts a Codable settings value into the manifest's JSON form.
    public static func settingsJSON<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: canonicalJSON(value))
    }

    /// Writes the manifest atomically into `folder`.
    public func write(to folder: OutputFolder) throws {
        try OutputFolder.makeDirectory(folder.file("shards"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try folder.write(Array(try encoder.encode(self)) + [10], to: path)
    }

    /// Reads a manifest file; nil when absent, throws `ShardMergeError.corrupt` when unreadable.
    public static func read(_ path: String) throws -> ShardManifest? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            let m = try JSONDecoder().decode(ShardManifest.self, from: data)
            guard m.format == "atlas-shard", m.version == 1 else {
                throw ShardMergeError.corrupt(["\((path as NSString).lastPathComponent): format \(m.format) version \(m.version)"])
            }
            return m
        } catch let e as ShardMergeError { throw e } catch {
            throw ShardMergeError.corrupt(["\((path as NSString).lastPathComponent): not a shard manifest (\(error))"])
        }
    }

    /// Records a file just written for `item` (hashing its bytes).
    public static func record(_ folder: OutputFolder, item: Int, path: String) throws -> ShardFile {
        guard let data = FileManager.default.contents(atPath: folder.file(path)) else {
            throw OutputError.writeFailed(path: folder.file(path), reason: "cannot read back the file just written")
        }
        return ShardFile(item: item, path: path, sha256: SHA256.hex(data), bytes: data.count)
    }
}

extension JSONValue {
    /// Dotted paths (`model.sha256`, `items[3].id`) where `self` and `other` differ, at most `limit` of them.
    public func differences(from other: JSONValue, at prefix: String = "", limit: Int = 8) -> [String] {
        var out: [String] = []
        func walk(_ a: JSONValue, _ b: JSONValue, _ path: String) {
            guard out.count < limit else { return }
            switch (a, b) {
            case let (.object(x), .object(y)):
                for key in Set(x.keys).union(y.keys).sorted() {
                    walk(x[key] ?? .null, y[key] ?? .null, path.isEmpty ? key : "\(path).\(key)")
                }
            case let (.array(x), .array(y)) where x.count == y.count:
                for i in x.indices { walk(x[i], y[i], "\(path)[\(i)]") }
            case let (.array(x), .array(y)):
                out.append("\(path) (\(x.count) vs \(y.count) entries)")
            default:
                if a != b { out.append("\(path) (\(a.brief) vs \(b.brief))") }
            }
        }
        walk(self, other, prefix)
        return out
    }

    /// A short rendering for messages.
    var brief: String {
        switch self {
        case .string(let s): return s.count > 24 ? "'\(s.prefix(12))…'" : "'\(s)'"
        case .int(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .null: return "none"
        case .array(let v): return "[\(v.count) entries]"
        case .object: return "{…}"
        }
    }
}
