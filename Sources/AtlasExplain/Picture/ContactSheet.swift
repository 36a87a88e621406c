/// The `index.html` of an attribution folder: one row per image with the input, its overlays and its best
/// classes. Self-contained (inline CSS, no scripts, no network) with paths relative to the folder.
import AtlasOutput
import Foundation

public enum ContactSheet {
    /// One overlay of an image.
    public struct Overlay: Sendable {
        public var caption: String
        public var image: String
        public var npy: String
        public var range: String
        public init(caption: String, image: String, npy: String, range: String) {
            self.caption = caption; self.image = image; self.npy = npy; self.range = range
        }
    }

    /// One image of the sheet.
    public struct Entry: Sendable {
        public var file: String
        public var input: String
        public var overlays: [Overlay]
        /// Best classes with probabilities, best first.
        public var top: [(label: String, probability: Float)]
        public init(file: String, input: String, overlays: [Overlay], top: [(label: String, probability: Float)]) {
            self.file = file; self.input = input; self.overlays = overlays; self.top = top
        }
    }

    /// The page: a heading with the settings, the rows, and the skipped files with their reasons.
    public static func html(title: String, settings: [(String, String)], entries: [Entry], skipped: [(file: String, reason: String)]) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#111;color:#ddd}
        header{padding:12px 20px;border-bottom:1px solid #333}h1{font-size:18px;margin:0 0 4px}
        .settings span{margin-right:14px;color:#aaa}.settings b{color:#ddd;font-weight:500}
        table{border-collapse:collapse;margin:8px 12px}td{padding:8px;vertical-align:top;border-bottom:1px solid #2a2a2a}
        figure{margin:0 8px 0 0;display:inline-block;vertical-align:top;white-space:normal}.maps{white-space:nowrap}img{display:block;image-rendering:pixelated;width:224px;height:auto}
        figcaption{font-size:12px;color:#aaa;max-width:224px}a{color:#8cf}
        .file{max-width:220px;word-break:break-all;font-size:12px}.top{min-width:220px}
        .row{display:grid;grid-template-columns:120px 60px 50px;gap:4px;align-items:center;font-size:12px}
        .bar{height:8px;background:#333}.bar i{display:block;height:8px;background:#f98e09}
        .skipped{margin:12px 20px;color:#e99}
        </style></head><body>
        <header><h1>\(escape(title))</h1><div class="settings">
        """
        for (k, v) in settings { h += "<span>\(escape(k)) <b>\(escape(v))</b></span>" }
        h += "</div></header>\n<table>\n"
        for e in entries {
            h += "<tr><td class=\"file\">\(escape(e.file))</td>"
            h += "<td><figure><img src=\"\(escape(e.input))\" alt=\"input\"><figcaption>input</figcaption></figure></td><td class=\"maps\">"
            for o in e.overlays {
                h += "<figure><img src=\"\(escape(o.image))\" alt=\"\(escape(o.caption))\"><figcaption>\(escape(o.caption)) · "
                    + "\(escape(o.range)) · <a href=\"\(escape(o.npy))\">.npy</a></figcaption></figure>"
            }
            h += "</td><td class=\"top\">"
            for t in e.top {
                let pct = String(format: "%.1f", Double(max(0, min(1, t.probability))) * 100)
                h += "<div class=\"row\"><span>\(escape(t.label))</span><span class=\"bar\"><i style=\"width:\(pct)%\"></i></span>"
                    + "<span>\(String(format: "%.3f", Double(t.probability)))</span></div>"
            }
            h += "</td></tr>\n"
        }
        h += "</table>\n"
        if !skipped.isEmpty {
            h += "<div class=\"skipped\"><h2>Skipped (\(skipped.count))</h2><ul>"
            for s in skipped { h += "<li>\(escape(s.file)): \(escape(s.reason))</li>" }
            h += "</ul></div>\n"
        }
        return h + "</body></html>\n"
    }

    /// Escapes text for HTML content and attribute values.
    public static func escape(_ s: String) -> String { HTML.escape(s) }
}
