/// Offline pages of a units output: `units/<layer>/index.html` (every unit as a cell of a grid in channel order,
/// icon or best crop, linked to its page) and `units/<layer>/<channel>.html` (icon, firing fraction, histogram
/// of per-image maxima, the top and bottom exemplar crops with value and rank, each opening the full network
/// view with the channel's map over it and the receptive-field box drawn, links to the previous and next unit). Plain HTML and CSS, no
/// scripts, no network: the URLs are stable and open from disk.
import AtlasOutput
import Foundation

enum UnitPages {
    /// Writes the layer page and one page per unit, linked to the same unit in the other `layers` (every layer with
    /// pages in the folder, `index` among them); for the folder's latest layer (`units.json`'s) also `index.html`: a
    /// link to the layer page when the folder holds no other viewer (or a list of layer pages, for several layers).
    static func write(_ index: UnitsIndex, folder: OutputFolder, layers: [UnitsIndex]) throws {
        let dir = "units/\(index.layerId)"
        let others = layers.filter { $0.layerId != index.layerId }
        try UnitAssembly.write(Array(layerPage(index, others: others).utf8), "\(dir)/index.html", folder)
        for (i, unit) in index.units.enumerated() {
            let prev = i > 0 ? index.units[i - 1].channel : nil
            let next = i + 1 < index.units.count ? index.units[i + 1].channel : nil
            let elsewhere = others.filter { o in o.units.contains { $0.channel == unit.channel } }
            try UnitAssembly.write(Array(unitPage(index, unit, prev: prev, next: next, others: elsewhere).utf8),
                                   "\(dir)/\(unit.channel).html", folder)
        }
        guard !FileManager.default.fileExists(atPath: folder.file("atlas.json")),
              layers.last?.layerId == index.layerId else { return }
        let target = "\(dir)/index.html"
        let html: String
        if layers.count == 1 {
            html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=\(esc(target))">
            <title>\(esc(index.title))</title></head><body><a href="\(esc(target))">\(esc(index.title))</a></body></html>

            """
        } else {
            html = page("Unit pages", "<h1>Unit pages</h1>\n<ul>\n" + layers.map {
                "<li><a href=\"units/\(esc($0.layerId))/index.html\">\(esc($0.layer))</a> · \($0.units.count) units · \($0.images) images</li>\n"
            }.joined() + "</ul>")
        }
        try UnitAssembly.write(Array(html.utf8), "index.html", folder)
    }

    /// The indexes of every layer with pages in `folder` (`units/<layer>/units.json`), `latest` in place of its
    /// own, the others in layer-folder order and `latest` last.
    static func layers(in folder: OutputFolder, with latest: UnitsIndex) -> [UnitsIndex] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.file("units")))?.sorted() ?? []
        let found = names.filter { $0 != latest.layerId }.compactMap { name -> UnitsIndex? in
            guard let data = FileManager.default.contents(atPath: folder.file("units/\(name)/units.json")),
                  let index = try? UnitsIndex.decode(data), index.layerId == name else { return nil }
            return index
        }
        return found + [latest]
    }

    /// Links to the layer pages of `others`.
    static func layerLinks(_ others: [UnitsIndex], channel: Int? = nil) -> String {
        others.map { o in
            let href = "../\(esc(o.layerId))/" + (channel.map { "\($0).html" } ?? "index.html")
            return "<a class=\"layer\" href=\"\(href)\">\(esc(o.layer))\(channel.map { " · unit \($0)" } ?? "")</a>"
        }.joined()
    }

    /// A folder-relative path of the index as seen from the pages' folder.
    static func local(_ path: String, _ index: UnitsIndex) -> String {
        let prefix = "units/\(index.layerId)/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : "../../" + path
    }

    static func esc(_ s: String) -> String { HTML.escape(s) }

    static func value(_ v: Float) -> String { String(format: "%.4g", Double(v)) }

    static let style = """
    body { background: #151515; color: #ddd; font: 14px/1.45 system-ui, sans-serif; margin: 1.5em 2em; }
    a { color: #8cf; } h1 { font-size: 1.3em; font-weight: 600; margin: 0 0 0.3em; } h2 { font-size: 1.05em; font-weight: 600; }
    .meta { color: #999; } nav a { margin-right: 1em; }
    .grid { display: grid; gap: 4px; } .cell { position: relative; display: block; background: #222; }
    .cell img { width: 100%; display: block; image-rendering: pixelated; } .cell span { position: absolute; left: 3px; top: 1px;
      font-size: 11px; color: #fff; text-shadow: 0 0 2px #000; }
    .head { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; } .icon { width: 256px; image-rendering: pixelated; }
    .noicon { width: 256px; height: 256px; background: #222; color: #777; display: flex; align-items: center; justify-content: center; }
    .ex { display: flex; flex-wrap: wrap; gap: 10px; } figure { margin: 0; width: 120px; }
    figure img { width: 120px; height: 120px; object-fit: contain; background: #000; image-rendering: pixelated; display: block; }
    figcaption { font-size: 12px; color: #aaa; overflow-wrap: anywhere; }
    .full { display: none; position: fixed; inset: 0; background: rgba(0,0,0,0.85); align-items: center; justify-content: center; }
    .full:target { display: flex; } .frame { position: relative; width: min(80vmin, 640px); }
    .frame img { width: 100%; display: block; image-rendering: pixelated; }
    .box { position: absolute; border: 2px solid #ff0; box-sizing: border-box; }
    .frame img.heat { position: absolute; left: 0; top: 0; width: 100%; height: 100%; opacity: 0.6; image-rendering: auto; }
    .canvas { position: relative; } img.canvas { width: 100%; display: block; image-rendering: pixelated; }
    .gcell { position: absolute; box-sizing: border-box; } .gcell:hover { outline: 2px solid #ff0; }
    .gcell span { font-size: 11px; color: #fff; text-shadow: 0 0 2px #000; padding: 1px 3px; }
    svg rect { fill: #6af; } svg text { fill: #999; font-size: 10px; }
    """

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(title))</title>
        <style>
        \(style)
        </style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    static func layerPage(_ index: UnitsIndex, others: [UnitsIndex]) -> String {
        let n = index.units.count
        let columns = max(1, Int(Double(n).squareRoot().rounded(.up)))
        var cells = ""
        for u in index.units {
            let tip = "unit \(u.channel): fires on \(String(format: "%.1f", u.fraction * 100))% of images"
            if let canvas = index.canvas, let r = u.rect {
                let (w, h) = (Double(canvas.width), Double(canvas.height))
                let style = String(format: "left:%.4f%%;top:%.4f%%;width:%.4f%%;height:%.4f%%", 100 * Double(r[0]) / w,
                                   100 * Double(r[1]) / h, 100 * Double(r[2]) / w, 100 * Double(r[3]) / h)
                cells += "<a class=\"gcell\" href=\"\(u.channel).html\" style=\"\(style)\" title=\"\(tip)\"><span>\(u.channel)</span></a>\n"
                continue
            }
            let picture = u.icon ?? u.top.first?.crop
            let img = picture.map { "<img src=\"\(esc(local($0, index)))\" alt=\"unit \(u.channel)\">" } ?? ""
            cells += "<a class=\"cell\" href=\"\(u.channel).html\" title=\"\(tip)\">\(img)<span>\(u.channel)</span></a>\n"
        }
        let grid = index.canvas.map { c in
            "<div class=\"canvas\" style=\"max-width: \(max(c.width, 480))px\"><img class=\"canvas\" src=\"\(esc(local(c.image, index)))\" "
                + "alt=\"the gallery of \(esc(index.layer))\">\n\(cells)</div>"
        } ?? "<div class=\"grid\" style=\"grid-template-columns: repeat(\(columns), minmax(40px, 96px));\">\n\(cells)</div>"
        let body = """
        \(others.isEmpty ? "" : "<nav>Other layers: \(layerLinks(others))</nav>")
        <h1>\(esc(index.title))</h1>
        <p class="meta">\(esc(index.model.file)) · layer \(esc(index.layer)) · \(n) units · \(index.images) images\
        \(index.skipped.isEmpty ? "" : " (\(index.skipped.count) skipped)") · receptive field \(fieldText(index)) · \
        <a href="units.json">units.json</a></p>
        \(grid)
        """
        return page(index.title, body)
    }

    static func fieldText(_ index: UnitsIndex) -> String {
        let f = index.field
        return f.global ? "the whole input" : "\(f.size[1])×\(f.size[0]) px, stride \(f.stride[1])"
    }

    static func unitPage(_ index: UnitsIndex, _ u: UnitsIndex.Unit, prev: Int?, next: Int?, others: [UnitsIndex]) -> String {
        var nav = "<a href=\"index.html\">\(esc(index.layer)): all units</a>"
        if let prev { nav += "<a href=\"\(prev).html\" rel=\"prev\">← unit \(prev)</a>" }
        if let next { nav += "<a href=\"\(next).html\" rel=\"next\">unit \(next) →</a>" }
        if !others.isEmpty { nav += "<span class=\"meta\">in other layers:</span> " + layerLinks(others, channel: u.channel) }
        let icon = u.icon.map { "<img class=\"icon\" src=\"\(esc(local($0, index)))\" alt=\"feature visualization of unit \(u.channel)\">" }
            ?? "<div class=\"noicon\">no icon (run atlas gallery, then atlas units --icons)</div>"
        var body = """
        <nav>\(nav)</nav>
        <h1>\(esc(index.layer)) · unit \(u.channel)</h1>
        <div class="head">\(icon)
        <div><p>Fires (max &gt; 0) on <b>\(u.fired)</b> of \(u.images) images (\(String(format: "%.1f", u.fraction * 100))%).</p>
        <p class="meta">Histogram of the unit's maximum over space, per image:</p>
        \(histogram(u.histogram))
        <p class="meta">\(esc(index.model.file)) · receptive field \(fieldText(index)) · input \(index.input[2])×\(index.input[1])</p></div>
        </div>
        """
        var boxes = ""
        func section(_ title: String, _ list: [UnitsIndex.Exemplar], tag: String) {
            body += "<h2>\(title)</h2>\n<div class=\"ex\">\n"
            for e in list {
                let id = "\(tag)\(e.rank)"
                body += "<figure><a href=\"#\(id)\"><img class=\"exemplar\" src=\"\(esc(local(e.crop, index)))\" alt=\"rank \(e.rank + 1)\"></a>"
                    + "<figcaption>#\(e.rank + 1) · \(value(e.value))<br>\(esc(e.image)) @ \(e.x),\(e.y)</figcaption></figure>\n"
                let (w, h) = (Double(index.input[2]), Double(index.input[1]))
                let b = e.box.map(Double.init)
                let style = String(format: "left:%.3f%%;top:%.3f%%;width:%.3f%%;height:%.3f%%", 100 * b[0] / w, 100 * b[1] / h,
                                   100 * (b[2] - b[0] + 1) / w, 100 * (b[3] - b[1] + 1) / h)
                let heat = e.heat.map { "<img class=\"heat\" src=\"\(esc(local($0, index)))\" alt=\"map of unit \(u.channel)\">" } ?? ""
                boxes += "<div class=\"full\" id=\"\(id)\"><a class=\"frame\" href=\"#\"><img src=\"\(esc(local(e.full, index)))\" "
                    + "alt=\"\(esc(e.image))\">\(heat)<div class=\"box\" style=\"\(style)\"></div></a></div>\n"
            }
            body += "</div>\n"
        }
        body += pictures(index, u)
        section("Top \(u.top.count) images (largest maximum; crop: the receptive field of the peak)", u.top, tag: "t")
        if let bottom = u.bottom { section("Bottom \(bottom.count) images (smallest minimum)", bottom, tag: "b") }
        return page("\(index.layer) · unit \(u.channel)", body + boxes)
    }

    /// The unit's diversity set as a row of icons, and its top exemplar beside the accentuated version.
    static func pictures(_ index: UnitsIndex, _ u: UnitsIndex.Unit) -> String {
        var html = ""
        if let d = u.diversity {
            html += "<h2>Diversity set: \(d.icons.count) icons optimized together (mean pairwise Gram similarity "
                + "\(String(format: "%.3f", d.similarity)))</h2>\n<div class=\"ex diversity\">\n"
            for (k, icon) in d.icons.enumerated() {
                let score = k < d.scores.count ? value(Float(d.scores[k])) : "–"
                html += "<figure><img class=\"diverse\" src=\"\(esc(local(icon, index)))\" alt=\"diversity icon \(k + 1) of unit \(u.channel)\">"
                    + "<figcaption>\(k + 1) · unit mean \(score)</figcaption></figure>\n"
            }
            html += "</div>\n"
        }
        if let a = u.accentuated, let best = u.top.first {
            html += "<h2>Top exemplar accentuated toward the unit</h2>\n<div class=\"ex accentuation\">\n"
                + "<figure><img src=\"\(esc(local(best.full, index)))\" alt=\"exemplar \(esc(best.image))\">"
                + "<figcaption>exemplar · max \(value(a.seedValue))</figcaption></figure>\n"
                + "<figure><img class=\"accentuated\" src=\"\(esc(local(a.image, index)))\" alt=\"accentuated exemplar\">"
                + "<figcaption>accentuated · max \(value(a.value))</figcaption></figure>\n</div>\n"
        }
        return html
    }

    /// An inline SVG bar chart of the bins (equal widths: the bins are logarithmic), first and last edge labelled.
    static func histogram(_ bins: [UnitsIndex.Bin]) -> String {
        guard let first = bins.first, let last = bins.last else { return "<p class=\"meta\">no images</p>" }
        let top = bins.map(\.count).max() ?? 1
        let width = 320.0, height = 80.0, bar = width / Double(bins.count)
        var rects = ""
        for (i, b) in bins.enumerated() {
            let h = max(1, height * Double(b.count) / Double(top))
            rects += String(format: "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"><title>", Double(i) * bar, height - h,
                            max(1, bar - 1), h) + "\(value(b.lo)) … \(value(b.hi)): \(b.count)</title></rect>"
        }
        return "<svg class=\"hist\" width=\"\(Int(width))\" height=\"\(Int(height) + 14)\">\(rects)"
            + "<text x=\"0\" y=\"\(Int(height) + 12)\">\(value(first.lo))</text>"
            + "<text x=\"\(Int(width))\" y=\"\(Int(height) + 12)\" text-anchor=\"end\">\(value(last.hi))</text></svg>"
    }
}
