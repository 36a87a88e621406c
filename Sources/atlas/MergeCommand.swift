import ArgumentParser
import AtlasImage
import AtlasJobs
import AtlasMap
import Foundation

/// `atlas merge`: checks the shards of a shared output folder and assembles the final output.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Check the shards written into an output folder and assemble the final output (collect.json, or grid, tiles, atlas.json, viewer).",
        discussion: """
        Each shard run (atlas gallery, collect or map … --shard i/n) records what it wrote in \
        DIR/shards/<kind>-<i>-of-<n>.json: the settings fingerprint, its items (icons, or collection parts), and \
        every file with its SHA-256. merge needs only DIR (no model): it checks that all n shards are there and \
        finished, that they come from the same job (same model, layer, images, settings, seed and format), that \
        no item is claimed twice and that every file still has its recorded checksum, then assembles exactly what \
        a single-machine run writes, byte for byte: a gallery's or atlas's grids, tiles, atlas.json and viewer, \
        or a collection's collect.json. An atlas merge also checks that the collection and OUT/layout.npy are the \
        ones the shards used.

        Refusals name the shards at fault. Exit 75: shards missing, unfinished or corrupt; rerun them (finished \
        items are kept, damaged ones re-rendered) and merge again. Exit 65: shards of different jobs or \
        overlapping shards in one folder; remove the stray ones or use a fresh folder.

        Example, four machines sharing /shared/out:
          atlas gallery model.onnx --layer mixed4a --out /shared/out --shard 2/4    (on each machine, 0/4 … 3/4)
          atlas merge /shared/out
          atlas collect model.onnx --images /shared/photos --layer mixed4c --out /shared/acts --shard 2/4
          atlas merge /shared/acts
        """
    )

    /// Every kind of shard `atlas merge` assembles.
    static let assemblers: [any ShardAssembler] = [GalleryShardAssembler(), CollectShardAssembler(), MapShardAssembler(), UnitsShardAssembler()]

    @Argument(help: "The output folder the shards wrote into.") var dir: String
    @Flag(help: "Only check the shards; write nothing.") var check = false
    @Flag(help: "Print a JSON summary on stdout.") var json = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.apply()
        try merge()
    }

    func merge() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw CommandFailure(message: "'\(dir)' is not a folder", code: AtlasExit.noInput)
        }
        let result: ShardMergeResult
        if check {
            let shards = try ShardMerge.verify(dir)
            result = ShardMergeResult(kind: shards[0].kind, shardCount: shards.count, items: shards[0].total,
                                      filesVerified: shards.reduce(0) { $0 + $1.files.count }, index: nil)
        } else {
            note("merging the shards of \(dir)", quiet: global.quiet || json)
            result = try ShardMerge.merge(dir, assemblers: MergeCommand.assemblers)
        }
        report(result)
    }

    func report(_ result: ShardMergeResult) {
        let grid = result.index?.grids.first
        if json {
            var summary: [String: Any] = ["out": dir, "kind": result.kind, "shards": result.shardCount, "items": result.items,
                                          "files_verified": result.filesVerified, "assembled": result.index != nil || result.summary != nil]
            if let grid, let index = result.index {
                summary["index"] = "\(dir)/atlas.json"
                summary["grid"] = ["id": grid.id, "columns": grid.columns, "rows": grid.rows, "max_zoom": grid.tiles.maxZoom]
                summary["grids"] = index.grids.map(\.id)
            }
            if let note = result.summary { summary["wrote"] = note }
            if let data = try? JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        guard !global.quiet else { return }
        let checked = "\(result.shardCount) \(result.kind) shards, \(result.items) items, \(result.filesVerified) files verified"
        if let grid, let index = result.index {
            let grids = index.grids.count > 1 ? "\(index.grids.count) grids (first \(grid.columns)×\(grid.rows))" : "\(grid.columns)×\(grid.rows) grid"
            note("merged \(checked): \(grids), zoom 0…\(grid.tiles.maxZoom), index \(dir)/atlas.json")
            note("browse it: open \(dir)/index.html")
        } else if let wrote = result.summary {
            note("merged \(checked): \(wrote)")
        } else {
            note("ok: \(checked); ready to merge")
        }
    }
}
