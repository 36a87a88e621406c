/// `IconStore`: icons rendered in batches by the feature-visualization `Renderer` and kept one file each in
/// `<folder>/icons/<id>.png`, with a sidecar `<id>.json` written after the PNG (both atomically), so that a run
/// killed at any point resumes without re-rendering a finished icon and never mistakes a partial one for done.
/// Galleries and atlases both render through it.
import AtlasCore
import AtlasImage
import AtlasNet
import AtlasOutput
import AtlasVis
import Foundation
import Synchronization

/// One icon to render.
public struct IconJob: Sendable {
    /// File stem (`icons/<id>.png`), `[A-Za-z0-9_-]+`.
    public var id: String
    public var objective: Objective
    public var seed: UInt64
    /// Position in the caller's list, recorded in the sidecar.
    public var index: Int
    public init(id: String, objective: Objective, seed: UInt64, index: Int) {
        self.id = id; self.objective = objective; self.seed = seed; self.index = index
    }
}

/// Icons done / to do, and optimization steps (icon-steps) done / to do over the icons that need rendering.
public struct GalleryProgress: Sendable {
    public var iconsDone: Int
    public var iconsTotal: Int
    public var stepsDone: Int
    public var stepsTotal: Int
}

public struct IconStore {
    public let folder: OutputFolder
    public let renderer: Renderer
    public let options: RenderOptions
    public let modelSHA: String?

    public init(folder: OutputFolder, renderer: Renderer, options: RenderOptions, modelSHA: String?) throws {
        self.folder = folder; self.renderer = renderer; self.options = options; self.modelSHA = modelSHA
        try OutputFolder.makeDirectory(folder.file("icons"))
    }

    /// Relative path of an icon.
    public static func path(_ id: String) -> String { "icons/\(id).png" }

    /// Renders the jobs without a valid icon on disk, `batch` at a time, and returns every job's objective value
    /// (read from the sidecar for reused icons; nil when not finite) and how many were rendered.
    /// Hooks for a caller that keeps its own record (a shard manifest): `mayReuse(k)` can veto reusing job `k`'s
    /// icon, `finished(k)` runs for each job once its icon is on disk (reused or rendered), and `checkpoint(allDone)`
    /// after the scan of existing icons and after every batch.
    public func render(_ jobs: [IconJob], batch: Int, progress: ((GalleryProgress) -> Void)? = nil,
                       mayReuse: (Int) -> Bool = { _ in true }, finished: (Int) throws -> Void = { _ in },
                       checkpoint: (Bool) throws -> Void = { _ in }) throws -> (values: [Double?], rendered: Int) {
        for first in stride(from: 0, to: jobs.count, by: batch) {   // batch-sized, to bound the memory it takes
            let slice = jobs[first..<min(jobs.count, first + batch)]
            try renderer.validate(slice.map(\.objective), seeds: slice.map(\.seed), options: options)
        }
        let keys = jobs.map(key)
        var values = [Double?](repeating: nil, count: jobs.count)
        var pending: [Int] = []
        for (i, job) in jobs.enumerated() {
            if mayReuse(i), let v = existingValue(job, key: keys[i]) {
                values[i] = v
                try finished(i)
            } else {
                pending.append(i)
            }
        }
        try checkpoint(pending.isEmpty)
        var status = GalleryProgress(iconsDone: jobs.count - pending.count, iconsTotal: jobs.count, stepsDone: 0,
                                     stepsTotal: pending.count * options.steps)
        progress?(status)
        // A batch's files are written on other threads while the next batch renders; its icons are reported
        // finished (and checkpointed) once they are on disk, in order, before the next batch's.
        var writing: BatchFiles? = nil
        defer { writing?.done.wait() }
        func settle(_ files: BatchFiles) throws {
            files.done.wait()
            for (k, i) in files.group.enumerated() {
                if let error = files.failure(k) { throw error }   // the icons before it are done, as when written in turn
                values[i] = files.result.values[k].isFinite ? files.result.values[k] : nil
                try finished(i)
            }
            try checkpoint(files.last)
            status.iconsDone += files.group.count
            progress?(status)
        }
        for first in stride(from: 0, to: pending.count, by: batch) {
            let group = Array(pending[first..<min(pending.count, first + batch)])
            let base = status.stepsDone
            let result: RenderResult
            do {
                result = try renderer.render(group.map { jobs[$0].objective }, seeds: group.map { jobs[$0].seed }, options: options,
                                             progress: { step, _ in
                                                 status.stepsDone = base + step * group.count
                                                 progress?(status)
                                             })
            } catch {
                if let previous = writing { writing = nil; try? settle(previous) }   // what is on disk is reported
                throw error
            }
            status.stepsDone = base + options.steps * group.count
            if let previous = writing { writing = nil; try settle(previous) }
            let files = BatchFiles(group: group, result: result, last: first + batch >= pending.count)
            writing = files
            let store = self
            DispatchQueue.global(qos: .userInitiated).async {
                // Each icon on a thread of its own: the fsyncs overlap.
                DispatchQueue.concurrentPerform(iterations: group.count) { k in
                    do { try store.write(jobs[group[k]], key: keys[group[k]], result: result, index: k) } catch {
                        files.fail(k, error)
                    }
                }
                files.done.leave()
            }
        }
        if let last = writing { writing = nil; try settle(last) }
        return (values, pending.count)
    }

    /// A rendered batch whose icon files are being written.
    final class BatchFiles: @unchecked Sendable {
        let group: [Int]
        let result: RenderResult
        let last: Bool
        let done = DispatchGroup()
        private let failures = Mutex<[Int: any Error]>([:])
        init(group: [Int], result: RenderResult, last: Bool) {
            self.group = group; self.result = result; self.last = last
            done.enter()
        }
        func fail(_ k: Int, _ error: any Error) { failures.withLock { $0[k] = error } }
        func failure(_ k: Int) -> (any Error)? { failures.withLock { $0[k] } }
    }

    /// Writes icon `index` of a rendered batch: its PNG (and importance map with MACO), then its sidecar.
    func write(_ job: IconJob, key: String, result: RenderResult, index k: Int) throws {
        try ImageCodec.writeAtomically(try ImageCodec.encodePNG(result.images[k]), to: folder.file(IconStore.path(job.id)))
        if options.param == .maco {
            try ImageCodec.writeAtomically(try ImageCodec.encodePNG(try ImportanceMap.image(result.importance, index: k)),
                                           to: folder.file(ImportanceMap.path(besideIcon: IconStore.path(job.id))))
        }
        let sidecar = IconSidecar(id: job.id, index: job.index, objective: job.objective.description, seed: job.seed,
                                  value: result.values[k].isFinite ? result.values[k] : nil,
                                  score: result.scores[k].isFinite ? result.scores[k] : nil, key: key)
        try folder.write(Array(try sidecar.jsonData()), to: "icons/\(job.id).json")
    }

    /// Everything an icon's pixels depend on; an icon on disk is reused only when its sidecar has this key:
    /// SHA-256 of the canonical JSON of the objective, seed, render options (all of them, as `RenderOptions`
    /// encodes itself), input channels and model hash.
    func key(_ job: IconJob) -> String {
        let recipe = IconRecipe(objective: job.objective.description, seed: String(job.seed), render: options.pixelRecipe,
                                inputChannels: renderer.inputChannels, modelSHA256: modelSHA)
        return "sha256:" + ((try? CanonicalJSON.sha256(recipe)) ?? "unencodable")
    }

    /// The recorded objective value of a valid finished icon (sidecar with the same key, PNG of the right size).
    func existingValue(_ job: IconJob, key: String) -> Double?? {
        guard let sidecar = IconSidecar.read(folder, id: job.id), sidecar.key == key,
              let image = try? ImageCodec.decode(file: folder.file(IconStore.path(job.id))),
              image.width == options.size, image.height == options.size, image.channels == renderer.inputChannels
        else { return nil }
        return .some(sidecar.value)
    }
}

/// What an icon's key is the hash of.
struct IconRecipe: Encodable {
    var objective: String
    /// Decimal, so that any UInt64 round-trips through JSON.
    var seed: String
    var render: RenderOptions
    var inputChannels: Int
    var modelSHA256: String?
}

/// `icons/<id>.json`: the record written after an icon's PNG (so a present sidecar means a finished icon).
struct IconSidecar: Codable {
    var id: String
    var index: Int
    var objective: String
    var seed: UInt64
    /// The objective at the last optimization step (on the transformed image); nil when not finite.
    var value: Double?
    /// The objective of the finished icon without transforms (`RenderResult.scores`); nil when not finite.
    var score: Double?
    var key: String

    /// The sidecar of icon `id` in `folder`, nil when missing or unreadable.
    static func read(_ folder: OutputFolder, id: String) -> IconSidecar? {
        FileManager.default.contents(atPath: folder.file("icons/\(id).json")).flatMap { try? JSONDecoder().decode(IconSidecar.self, from: $0) }
    }

    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
