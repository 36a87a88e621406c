/// `atlas merge`: checks the shard manifests of an output folder against each other and against the files on
/// disk, then hands the verified job to the assembler of its kind (see ShardManifest.swift for the contract).
import AtlasOutput
import Foundation

/// Turns the verified shards of one job kind into the final output.
///
/// Kinds: `gallery` (GalleryShardAssembler), `collect` (CollectShardAssembler), `map` (MapShardAssembler). To
/// make a new kind mergeable: write manifests with `ShardLog` from each shard run, implement this protocol with
/// the same assembly function the single-machine run calls, and pass an instance to `ShardMerge.merge`.
/// Assembly must depend only on `settings` and the listed files (and inputs `settings` pins by checksum).
public protocol ShardAssembler {
    /// The manifest `kind` this assembler handles.
    var kind: String { get }
    /// Writes the final output into `folder` from the job's settings and its verified shards.
    func assemble(settings: JSONValue, shards: [ShardManifest], folder: OutputFolder) throws -> ShardMergeResult
}

/// What a merge produced.
public struct ShardMergeResult: Sendable {
    public var kind: String
    public var shardCount: Int
    public var items: Int
    /// Files checked against their manifests.
    public var filesVerified: Int
    /// The index written, when the kind writes one.
    public var index: AtlasIndex?
    /// One line on what was written, for kinds without an index (e.g. `collect.json: …`).
    public var summary: String?

    public init(kind: String, shardCount: Int, items: Int, filesVerified: Int, index: AtlasIndex?, summary: String? = nil) {
        self.kind = kind; self.shardCount = shardCount; self.items = items; self.filesVerified = filesVerified; self.index = index
        self.summary = summary
    }
}

/// Why shards cannot be merged. `missing`, `incomplete` and `corrupt` are fixed by (re)running the named shards;
/// `mismatch` and `overlap` mean the folder mixes jobs and needs a person.
public enum ShardMergeError: Error, CustomStringConvertible, Equatable {
    /// No `shards/*.json` in the folder.
    case noManifests(String)
    /// Shard manifests that should exist but do not (file names).
    case missing([String])
    /// Shards that have not finished (`complete: false`).
    case incomplete([String])
    /// Files whose bytes do not match their manifest, or unreadable manifests.
    case corrupt([String])
    /// Manifests of different jobs: the two files and the settings fields that differ.
    case mismatch(String, String, [String])
    /// An item claimed by two manifests.
    case overlap(item: Int, String, String)
    /// No assembler for this kind.
    case unknownKind(String)

    /// Whether rerunning shards (rather than cleaning up the folder) can fix it.
    public var isRetryable: Bool {
        switch self {
        case .noManifests, .missing, .incomplete, .corrupt: return true
        default: return false
        }
    }

    public var description: String {
        func list(_ names: [String]) -> String {
            names.count <= 8 ? names.joined(separator: ", ") : names.prefix(8).joined(separator: ", ") + " and \(names.count - 8) more"
        }
        switch self {
        case .noManifests(let dir):
            return "\(dir)/shards holds no shard manifests; run the shards (atlas gallery|collect|map … --shard i/n) into this folder first"
        case .missing(let names): return "shards missing: \(list(names)); run them, then merge again"
        case .incomplete(let names): return "shards not finished: \(list(names)); rerun them (finished items are kept), then merge again"
        case .corrupt(let what): return "corrupt or partial shard output: \(list(what)); rerun those shards to repair it, then merge again"
        case let .mismatch(a, b, fields):
            return "\(a) and \(b) come from different jobs (settings differ: \(list(fields))); remove the stray shards or use a fresh folder"
        case let .overlap(item, a, b):
            return "\(a) and \(b) both claim item \(item) (different shard counts?); remove the stray shards or use a fresh folder"
        case .unknownKind(let kind): return "no merge for shards of kind '\(kind)'"
        }
    }
}

/// Verification and merging of shard outputs.
public enum ShardMerge {
    /// Reads every `shards/*.json` of `dir` and checks that they form one complete job: same kind and settings
    /// fingerprint, each item owned by exactly one shard, all shards present and complete, and every listed
    /// file present with its recorded SHA-256. Returns the manifests (by shard index).
    public static func verify(_ dir: String) throws -> [ShardManifest] {
        let shardDir = dir + "/shards"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: shardDir)) ?? [])
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
        var manifests: [ShardManifest] = []
        var unreadable: [String] = []
        for name in names {
            do { if let m = try ShardManifest.read(shardDir + "/" + name) { manifests.append(m) } }
            catch let e as ShardMergeError { if case .corrupt(let what) = e { unreadable += what } else { throw e } }
        }
        if !unreadable.isEmpty { throw ShardMergeError.corrupt(unreadable) }
        guard let first = manifests.first else { throw ShardMergeError.noManifests(dir) }

        for m in manifests {
            guard (try? ShardManifest.fingerprint(m.settings)) == m.fingerprint else {
                throw ShardMergeError.corrupt(["\(m.path): settings do not match its fingerprint"])
            }
            guard let spec = try? ShardSpec(index: m.shard.index, count: m.shard.count), m.items == spec.items(of: m.total) else {
                throw ShardMergeError.corrupt(["\(m.path): items do not match shard \(m.shard.index)/\(m.shard.count) of \(m.total)"])
            }
            if m.kind != first.kind || m.fingerprint != first.fingerprint || m.total != first.total {
                var fields = m.kind != first.kind ? ["kind ('\(first.kind)' vs '\(m.kind)')"] : []
                if m.total != first.total { fields.append("total items (\(first.total) vs \(m.total))") }
                fields += first.settings.differences(from: m.settings)
                throw ShardMergeError.mismatch(first.path, m.path, fields)
            }
        }
        var owner = [String?](repeating: nil, count: first.total)
        for m in manifests {
            for item in m.items {
                if let other = owner[item] { throw ShardMergeError.overlap(item: item, other, m.path) }
                owner[item] = m.path
            }
        }
        let count = first.shard.count
        let present = Set(manifests.map(\.shard.index))
        let missing = (0..<count).filter { !present.contains($0) }
            .compactMap { try? ShardManifest.path(kind: first.kind, spec: ShardSpec(index: $0, count: count)) }
        if !missing.isEmpty { throw ShardMergeError.missing(missing) }
        let unfinished = manifests.filter { !$0.complete || Set($0.files.map(\.item)) != Set($0.items) }.map(\.path)
        if !unfinished.isEmpty { throw ShardMergeError.incomplete(unfinished) }

        var bad: [String] = []
        for m in manifests {
            for f in m.files {
                let path = dir + "/" + f.path
                guard let data = FileManager.default.contents(atPath: path) else {
                    bad.append("\(f.path) missing (shard \(m.shard.index)/\(m.shard.count))"); continue
                }
                if data.count != f.bytes || SHA256.hex(data) != f.sha256 {
                    bad.append("\(f.path) checksum mismatch (shard \(m.shard.index)/\(m.shard.count))")
                }
            }
        }
        if !bad.isEmpty { throw ShardMergeError.corrupt(bad) }
        return manifests.sorted { $0.shard.index < $1.shard.index }
    }

    /// Verifies the shards of `dir` and assembles them with the assembler of their kind.
    public static func merge(_ dir: String, assemblers: [any ShardAssembler]) throws -> ShardMergeResult {
        let folder = try OutputFolder(path: dir)
        let shards = try verify(folder.path)
        guard let assembler = assemblers.first(where: { $0.kind == shards[0].kind }) else {
            throw ShardMergeError.unknownKind(shards[0].kind)
        }
        var result = try assembler.assemble(settings: shards[0].settings, shards: shards, folder: folder)
        result.filesVerified = shards.reduce(0) { $0 + $1.files.count }
        return result
    }
}
