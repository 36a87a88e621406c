/// `RequestPath`: turns an HTTP request target into folder-relative path segments, refusing every form of
/// escape before the file system is touched (the file system check in `FileLookup` is the second fence).

/// The validated path of a request: decoded segments below the served root.
public struct RequestPath: Equatable, Sendable {
    /// Decoded path segments, none empty, none starting with `.`, none holding `/`, `\`, `%` or control characters.
    public let segments: [String]
    /// Whether the URL path ends with `/` (directories are served only at their `/` form, so relative links work).
    public let trailingSlash: Bool
    /// The raw (still percent-encoded) path, without query or fragment, as the client sent it.
    public let raw: String

    /// Parses an origin-form request target (`/a/b.png?x=1`). Returns nil (answer 404) for anything that could
    /// name a file outside the root or is not a plain path: absolute-form or `*` targets, empty interior
    /// segments (`//etc`), `.`/`..` and other dot segments, hidden names, backslashes, NUL and control
    /// characters (raw or percent-encoded), encoded `/`, malformed or double percent-encoding, invalid UTF-8.
    public init?(target: String) {
        var raw = Substring(target)
        if let cut = raw.firstIndex(where: { $0 == "?" || $0 == "#" }) { raw = raw[..<cut] }
        guard raw.first == "/" else { return nil }
        guard !raw.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }) else { return nil }
        let parts = raw.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        var segments: [String] = []
        for (i, part) in parts.enumerated() {
            if part.isEmpty {
                guard i == parts.count - 1 else { return nil }  // only the trailing slash may leave a segment empty
                continue
            }
            guard let name = RequestPath.percentDecode(part), RequestPath.isPlainName(name) else { return nil }
            segments.append(name)
        }
        self.segments = segments
        self.trailingSlash = raw.hasSuffix("/")
        self.raw = String(raw)
    }

    /// The folder-relative path (`a/b.png`; empty for the root).
    public var relative: String { segments.joined(separator: "/") }

    /// A name that can only mean an entry of the current folder: not hidden, no separators, no escapes left.
    static func isPlainName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix(".") else { return false }
        return !name.unicodeScalars.contains { s in
            s == "/" || s == "\\" || s == "%" || s.value < 0x20 || s.value == 0x7F
        }
    }

    /// Decodes `%XX` escapes once; nil for a malformed escape or bytes that are not UTF-8.
    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let b = it.next() {
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { return nil }
            bytes.append(h << 4 | l)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Percent-encodes one path segment for a URL (unreserved characters stay as they are).
    public static func encodeSegment(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}
