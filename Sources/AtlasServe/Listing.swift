/// `Listing`: the page served for a folder without an index.html — every atlas/gallery output folder found below
/// it (a folder holding atlas.json), with its kind, title, model, layer and grids, linked to its viewer, and every
/// units output (a folder holding units.json, from `atlas units`), linked to its layer page.
import AtlasOutput
import Foundation

/// What the listing shows of a `units.json` (docs/units-format.md; the full type is AtlasMap's `UnitsIndex`):
/// decoded on its own so that the server needs only the output formats, not the engine.
public struct UnitsSummary: Decodable, Sendable {
    public struct Unit: Decodable, Sendable { public var channel: Int }
    public var format: String
    public var version: Int
    public var title: String
    public var model: AtlasIndex.Model
    public var layer: String
    public var page: String
    public var images: Int
    public var units: [Unit]

    /// Parses `units.json`; throws `OutputError.badIndex` for another format or version.
    public static func decode(_ data: Data) throws -> UnitsSummary {
        let summary: UnitsSummary
        do { summary = try JSONDecoder().decode(UnitsSummary.self, from: data) } catch { throw OutputError.badIndex("\(error)") }
        guard summary.format == "atlas-units", summary.version == 1 else {
            throw OutputError.badIndex("format \(summary.format) version \(summary.version); expected atlas-units 1")
        }
        return summary
    }
}

public enum Listing {
    /// One output folder found by `scan`.
    public struct Entry: Sendable {
        /// Path relative to the listed folder, `/`-separated (empty when the folder itself is an output).
        public let path: String
        /// The decoded index, or nil with `problem` set when atlas.json is unreadable.
        public let index: AtlasIndex?
        public let problem: String?
        /// A units output's index (then `index` is nil).
        public var units: UnitsSummary? = nil
        /// The index file the entry was read from.
        public var indexFile = "atlas.json"
    }

    /// Folders visited at most per scan, so that a huge tree cannot stall a request.
    public static let folderLimit = 20_000
    /// Depth below the listed folder searched for outputs.
    public static let depthLimit = 8

    /// Output folders below `directory` (a real path inside `lookup.root`), in path order. Does not descend into
    /// output folders (their tiles), hidden folders, or symlinks that leave the root or lead back (cycles).
    public static func scan(_ directory: String, lookup: FileLookup) -> [Entry] {
        var found: [Entry] = []
        var seen: Set<String> = [directory]
        var queue: [(real: String, relative: String, depth: Int)] = [(directory, "", 0)]
        var visited = 0
        let fm = FileManager.default
        while !queue.isEmpty, visited < folderLimit {
            let (dir, relative, depth) = queue.removeFirst()
            visited += 1
            if fm.fileExists(atPath: dir + "/atlas.json") {
                found.append(entry(dir: dir, relative: relative))
                continue
            }
            if fm.fileExists(atPath: dir + "/units.json") {
                found += unitsEntries(dir: dir, relative: relative)
                continue
            }
            guard depth < depthLimit, let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where RequestPath.isPlainName(name) {
                guard let real = FileLookup.realPath(dir + "/" + name), lookup.contains(realPath: real),
                      FileLookup.kind(real) == S_IFDIR, seen.insert(real).inserted else { continue }
                queue.append((real, relative.isEmpty ? name : relative + "/" + name, depth + 1))
            }
        }
        return found.sorted { ($0.path, $0.units?.layer ?? "") < ($1.path, $1.units?.layer ?? "") }
    }

    private static func entry(dir: String, relative: String) -> Entry {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/atlas.json"))
            return Entry(path: relative, index: try AtlasIndex.decode(data), problem: nil)
        } catch {
            return Entry(path: relative, index: nil, problem: "\(error)")
        }
    }

    /// One entry per layer of a units output: `OUT/units.json` is only the latest layer written, so a folder holding
    /// several layers (`units/<layer>/units.json`, docs/units-format.md) is listed by each layer's own index.
    private static func unitsEntries(dir: String, relative: String) -> [Entry] {
        let fm = FileManager.default
        let layers = ((try? fm.contentsOfDirectory(atPath: dir + "/units")) ?? []).sorted()
            .filter { RequestPath.isPlainName($0) && fm.fileExists(atPath: dir + "/units/" + $0 + "/units.json") }
        guard layers.count > 1 else { return [unitsEntry(file: dir + "/units.json", relative: relative)] }
        return layers.map { unitsEntry(file: dir + "/units/" + $0 + "/units.json", relative: relative) }
    }

    private static func unitsEntry(file: String, relative: String) -> Entry {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            return Entry(path: relative, index: nil, problem: nil, units: try UnitsSummary.decode(data))
        } catch {
            return Entry(path: relative, index: nil, problem: "\(error)", indexFile: "units.json")
        }
    }

    /// The HTML page for `entries` found in the folder shown as `title` (self-contained, no scripts).
    public static func html(title: String, entries: [Entry]) -> String {
        var rows = ""
        for e in entries {
            let href = (e.path.isEmpty ? [] : e.path.split(separator: "/").map { RequestPath.encodeSegment(String($0)) }) + ["index.html"]
            let name = e.path.isEmpty ? "." : e.path
            if let units = e.units {
                let page = units.page.split(separator: "/").map { RequestPath.encodeSegment(String($0)) }
                let href = ((e.path.isEmpty ? [] : e.path.split(separator: "/").map { RequestPath.encodeSegment(String($0)) }) + page)
                rows += "<tr><td><a href=\"\(href.joined(separator: "/"))\">\(escape(units.title))</a>"
                    + "<div class=\"path\">\(escape(name))/</div></td><td>units</td>"
                    + "<td>\(escape(units.model.file))</td><td>\(escape(units.layer))</td>"
                    + "<td>\(units.units.count) unit pages · \(units.images) images</td><td></td></tr>\n"
            } else if let index = e.index {
                let grids = index.grids.map { escape("\($0.label) · \($0.cells.count) cells") }.joined(separator: "<br>")
                rows += "<tr><td><a href=\"\(href.joined(separator: "/"))\">\(escape(index.title ?? name))</a>"
                    + "<div class=\"path\">\(escape(name))/</div></td><td>\(escape(index.kind.rawValue))</td>"
                    + "<td>\(escape(index.model?.file ?? "—"))</td><td>\(escape(index.layer ?? "—"))</td>"
                    + "<td>\(grids.isEmpty ? "—" : grids)</td><td>\(escape(index.created ?? ""))</td></tr>\n"
            } else {
                rows += "<tr><td>\(escape(name))/</td><td colspan=\"5\" class=\"bad\">unreadable \(e.indexFile): "
                    + "\(escape(e.problem ?? "?"))</td></tr>\n"
            }
        }
        let body = entries.isEmpty
            ? "<p class=\"empty\">No atlas, gallery or units output folders (folders with an atlas.json or units.json) were found here.</p>"
            : "<table><thead><tr><th>Output</th><th>Kind</th><th>Model</th><th>Layer</th><th>Grids</th><th>Created</th></tr></thead>\n<tbody>\n\(rows)</tbody></table>"
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Atlas · \(escape(title))</title>
        <style>
        body { background: #151515; color: #ddd; font: 14px/1.45 system-ui, sans-serif; margin: 2em; }
        h1 { font-size: 1.3em; font-weight: 600; } a { color: #8cf; } .path { color: #888; font-size: 0.85em; }
        table { border-collapse: collapse; } th, td { text-align: left; vertical-align: top; padding: 0.4em 1em 0.4em 0; }
        th { color: #aaa; font-weight: 500; border-bottom: 1px solid #333; } .bad { color: #f88; } .empty { color: #aaa; }
        </style></head>
        <body><h1>Atlas outputs in \(escape(title))</h1>
        \(body)
        </body></html>

        """
    }

    /// HTML-escapes text for element content and quoted attributes.
    static func escape(_ text: String) -> String { HTML.escape(text) }
}
