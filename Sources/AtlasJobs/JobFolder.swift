/// `JobFolder`: the one rule by which an output folder resumes, for every command that writes finished items into
/// one (gallery and map icons, collect parts, attribution and attention records, unit summaries), on one machine or as a shard.
///
/// - A job is its recipe: a Codable value holding everything the folder's bytes depend on (the same value that
///   shard manifests carry as `settings`). Its canonical JSON and SHA-256, the fingerprint, are recorded in
///   `OUT/job.json` (`JobRecord`) before any item is written.
/// - Opening a folder whose record has the same fingerprint resumes the job: temporary files of a killed write are
///   removed (one-machine runs only: a shard's neighbours may be writing), and each item is kept when its own check
///   passes (an icon's key, a part's fingerprint or checksum, an attribution record naming its files).
/// - A folder holds one command's output: a record of another kind is refused (`JobError.otherKind`).
/// - Another fingerprint is decided by the job's `JobReuse`: items that are only valid for the job that made them
///   (collect parts, attribution and attention records) make the folder refuse the new job, naming the fields that differ
///   (`JobError.otherJob`, exit 65), and nothing is changed; items that carry their own key (icons, unit parts)
///   let the new job take the folder over, and no stale item is reused because its key no longer matches.
import AtlasOutput
import Foundation

/// `OUT/job.json`.
public struct JobRecord: Codable, Sendable, Equatable {
    public var format = "atlas-job"
    public var version = 1
    /// The command that wrote the folder: `gallery`, `map`, `collect`, `attribute`, `units`.
    public var kind: String
    /// SHA-256 of the canonical JSON of `settings`.
    public var fingerprint: String
    /// The job's recipe, as it encodes itself.
    public var settings: JSONValue

    public init<Recipe: Encodable>(kind: String, recipe: Recipe) throws {
        self.kind = kind
        settings = try ShardManifest.settingsJSON(recipe)
        fingerprint = try ShardManifest.fingerprint(settings)
    }
}

/// What a folder holding another job means for a new one.
public enum JobReuse {
    /// Finished items are valid only for the job recorded: while `holdsItems` says the folder has any, another job
    /// is refused; an empty folder is taken over.
    case sameJobOnly(holdsItems: (OutputFolder) -> Bool)
    /// Every item carries its own key, so another job may take the folder over and re-check each item by key.
    case itemKeys
}

/// Why a folder cannot hold this job.
public enum JobError: Error, CustomStringConvertible, Equatable {
    /// The folder holds finished items of another job; `differences` are the settings' field paths that differ.
    case otherJob(folder: String, kind: String, differences: [String])
    /// The folder holds the output of another command (`kind`).
    case otherKind(folder: String, kind: String)
    /// `job.json` is not a job record.
    case badRecord(path: String, reason: String)

    public var description: String {
        switch self {
        case let .otherJob(folder, kind, differences):
            let what = differences.isEmpty ? "" : ": " + differences.joined(separator: ", ")
            return "\(folder) holds a \(kind) job with other settings\(what); use another --out, or the same settings to resume"
        case let .otherKind(folder, kind): return "\(folder) holds the output of atlas \(kind); use another --out"
        case let .badRecord(path, reason): return "\(path): not an atlas job record (\(reason)); use another --out"
        }
    }
}

/// An output folder opened for one job.
public struct JobFolder {
    /// Folder-relative path of the job record.
    public static let recordPath = "job.json"

    public let folder: OutputFolder
    /// Folder-relative path of this job's record (`job.json`, or a per-part-set record such as unit pages' per layer).
    public let recordFile: String
    public let record: JobRecord
    /// True when the folder already held this job (a rerun resumes it).
    public let resumed: Bool
    /// The job the folder held before this one took it over (`JobReuse.itemKeys` only).
    public let replaced: JobRecord?

    /// Opens `folder` for the job of `kind` described by `recipe` under the rules above, and records the job in
    /// `record` (a folder that holds several jobs of one kind, as unit pages of several layers, gives each its own).
    /// `shard` runs share the folder with other shards, so they leave temporary files alone.
    public init<Recipe: Encodable>(_ folder: OutputFolder, kind: String, recipe: Recipe, reuse: JobReuse, shard: Bool = false,
                                   record recordFile: String = JobFolder.recordPath) throws {
        self.folder = folder
        self.recordFile = recordFile
        let record = try JobRecord(kind: kind, recipe: recipe)
        self.record = record
        let earlier = try JobFolder.read(folder, record: recordFile)
        if let earlier, earlier.kind != kind { throw JobError.otherKind(folder: folder.path, kind: earlier.kind) }
        if let earlier, earlier.fingerprint == record.fingerprint {
            resumed = true
            replaced = nil
            if !shard { JobFolder.removeTemporaries(folder.path) }
            return
        }
        resumed = false
        switch reuse {
        case .sameJobOnly(let holdsItems):
            if holdsItems(folder) {
                let differences = earlier.map { record.settings.differences(from: $0.settings) }
                throw JobError.otherJob(folder: folder.path, kind: kind,
                                        differences: differences ?? ["no job.json (a folder from an earlier atlas?)"])
            }
            replaced = nil
        case .itemKeys:
            replaced = earlier
        }
        if !shard { JobFolder.removeTemporaries(folder.path) }
        try write()
    }

    /// The log of shard `spec` of this job, whose manifest carries the job's settings and fingerprint; nil for a
    /// one-machine run.
    public func shardLog(_ spec: ShardSpec?, total: Int) throws -> ShardLog? {
        try spec.map { try ShardLog(folder: folder, kind: record.kind, spec: $0, total: total, settings: record.settings) }
    }

    /// The settings that differ from an earlier record (dotted field paths), for messages.
    public func differences(from earlier: JobRecord) -> [String] { record.settings.differences(from: earlier.settings) }

    /// The record in `folder` (at `record`), nil when there is none.
    public static func read(_ folder: OutputFolder, record: String = JobFolder.recordPath) throws -> JobRecord? {
        let path = folder.file(record)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let record: JobRecord
        do { record = try JSONDecoder().decode(JobRecord.self, from: data) }
        catch { throw JobError.badRecord(path: path, reason: "\(error)") }
        guard record.format == "atlas-job", record.version == 1 else {
            throw JobError.badRecord(path: path, reason: "format \(record.format) version \(record.version)")
        }
        return record
    }

    private func write() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try folder.write(Array(try encoder.encode(record)) + [10], to: recordFile)
    }

    /// Removes the temporary siblings (`.NAME.tmp-XXXXXX`, see `AtomicFile`) that a killed write leaves, in the
    /// folder and its subfolders down to `units/<layer>/crops`, other than the tile pyramids (rebuilt whole by
    /// every assembly), so that an `--out` holding other files is not searched deeply.
    static func removeTemporaries(_ path: String, depth limit: Int = 3) {
        let fm = FileManager.default
        var pending = [(path, 0)]
        while let (dir, depth) = pending.popLast() {
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                let full = dir + "/" + name
                var isDir: ObjCBool = false
                guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }
                if isDir.boolValue {
                    if name != "tiles" && depth < limit { pending.append((full, depth + 1)) }
                } else if isTemporary(name) {
                    try? fm.removeItem(atPath: full)
                }
            }
        }
    }

    /// Whether `name` is an `AtomicFile` temporary: `.` + name + `.tmp-` + six characters.
    static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix("."), let r = name.range(of: ".tmp-", options: .backwards) else { return false }
        return name.distance(from: r.upperBound, to: name.endIndex) == 6 && r.lowerBound > name.index(after: name.startIndex)
    }
}
