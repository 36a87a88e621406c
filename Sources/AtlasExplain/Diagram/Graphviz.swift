/// Runs Graphviz `dot` to lay out a diagram, and wraps the SVG in a self-contained HTML page.
import Foundation

/// Why a diagram could not be laid out.
public enum DiagramError: Error, CustomStringConvertible, Equatable {
    /// `dot` is not on the PATH.
    case dotMissing
    /// `dot` ran and failed.
    case dotFailed(String)

    public var isMissingTool: Bool { self == .dotMissing }

    public var description: String {
        switch self {
        case .dotMissing:
            return "Graphviz 'dot' is not installed (or not on PATH); install it with: sudo apt-get install -y graphviz "
                + "(macOS: brew install graphviz), or use --layout builtin (or write --out model.dot and lay it out elsewhere)"
        case let .dotFailed(m): return "Graphviz dot failed: \(m)"
        }
    }
}

public enum Graphviz {
    /// The `dot` executable on PATH, or nil.
    public static func dotPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/dot"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Lays out DOT text as SVG with `dot -Tsvg`.
    public static func svg(fromDOT text: String, dot: String? = Graphviz.dotPath()) throws -> String {
        guard let dot else { throw DiagramError.dotMissing }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: dot)
        p.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = errors
        do { try p.run() } catch { throw DiagramError.dotFailed("\(error)") }
        // Feed stdin from another thread so a large SVG on stdout cannot deadlock the pipes.
        let data = Data(text.utf8)
        let writer = Thread { input.fileHandleForWriting.write(data); try? input.fileHandleForWriting.close() }
        writer.start()
        let svg = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw DiagramError.dotFailed(String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(decoding: svg, as: UTF8.self)
    }

    /// An HTML page showing the SVG inline (its XML prologue removed), scrollable, with a note on the links.
    public static func page(svg: String, title: String, note: String) -> String {
        let body = svg.range(of: "<svg").map { String(svg[$0.lowerBound...]) } ?? svg
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(ContactSheet.escape(title))</title>
        <style>body{margin:0;font:14px system-ui,sans-serif;background:#fafafa;color:#222}
        header{padding:10px 16px;border-bottom:1px solid #ddd;background:#fff}header p{margin:4px 0 0;color:#666}
        main{overflow:auto;padding:12px}svg{max-width:none;height:auto}svg a:hover path,svg a:hover polygon{stroke:#d9480f}</style>
        </head><body><header><b>\(ContactSheet.escape(title))</b><p>\(ContactSheet.escape(note))</p></header>
        <main>
        \(body)
        </main></body></html>

        """
    }
}
