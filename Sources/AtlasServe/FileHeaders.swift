/// `FileHeaders`: the response headers of a static file — content type by extension, cache policy (tiles long,
/// index files revalidated every time), a validator pair (ETag + Last-Modified) and the conditional-GET test.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum FileHeaders {
    /// `Cache-Control` for tiles and other pictures: kept a day without asking (a re-rendered folder needs a
    /// forced reload to refetch tiles already seen).
    public static let longCache = "public, max-age=86400"
    /// `Cache-Control` for index files (html, js, css, json, dzi …): always revalidated, answered 304 when unchanged.
    public static let revalidate = "no-cache"

    /// MIME type for a file name's extension (`application/octet-stream` when unknown).
    public static func contentType(for name: String) -> String {
        switch fileExtension(name) {
        case "html", "htm": return "text/html; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json": return "application/json"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "svg": return "image/svg+xml"
        case "ico": return "image/x-icon"
        case "dzi", "xml": return "application/xml"
        case "txt", "log", "csv", "md": return "text/plain; charset=utf-8"
        default: return "application/octet-stream"  // .npy, .onnx, .bin …
        }
    }

    /// `Cache-Control` for a folder-relative path: pictures (tiles, icons, thumbnails) long, everything else
    /// revalidated, so a rerun's new index is seen at once.
    public static func cacheControl(for relativePath: String) -> String {
        switch fileExtension(relativePath) {
        case "jpg", "jpeg", "png", "gif", "webp": return longCache
        default: return revalidate
        }
    }

    /// Strong validator from size, modification time (ns) and inode: changes whenever an atomic rewrite does.
    public static func etag(for file: OpenedFile) -> String {
        let parts = [UInt64(file.size), UInt64(bitPattern: Int64(file.modified.seconds)),
                     UInt64(file.modified.nanoseconds), file.inode]
        return "\"" + parts.map { String($0, radix: 16) }.joined(separator: "-") + "\""
    }

    /// True when the request's validators match the file: `If-None-Match` (a list, weak or strong, or `*`) is
    /// checked first; without it, `If-Modified-Since` must equal this server's `Last-Modified` text (what
    /// browsers echo back).
    public static func notModified(ifNoneMatch: [String], ifModifiedSince: String?, etag: String, lastModified: String) -> Bool {
        if !ifNoneMatch.isEmpty {
            for header in ifNoneMatch {
                for tag in header.split(separator: ",") {
                    var t = tag.trimmingSpaces
                    if t == "*" { return true }
                    if t.hasPrefix("W/") { t = t.dropFirst(2) }
                    if t == etag[...] { return true }
                }
            }
            return false
        }
        return ifModifiedSince.map { $0[...].trimmingSpaces == lastModified[...] } ?? false
    }

    /// RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func httpDate(secondsSince1970 seconds: Int) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }

    /// Lower-cased extension of the last path component (empty when none).
    static func fileExtension(_ path: String) -> String {
        let name = path.split(separator: "/").last ?? ""
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }
}

extension Substring {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
