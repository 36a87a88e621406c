import ArgumentParser
import AtlasMap
import AtlasServe
import Dispatch
import Foundation

/// `atlas serve DIR`: browse output folders over HTTP (AtlasServe), loopback only unless asked otherwise.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve output folders over HTTP, to browse atlases and galleries from a browser.",
        discussion: """
        DIR is one output folder (its viewer opens at /) or a folder holding several, at any depth (/ then lists \
        every atlas and gallery found: kind, title, model, layer and grids, each linked to its viewer). Files are \
        streamed with their content type, an ETag and Last-Modified; tiles and pictures may be cached for a day, \
        index files are revalidated on every load (after re-rendering into the same folder, force-reload the page \
        to refetch tiles already seen). Only GET and HEAD are answered; nothing outside DIR is reachable (.. and \
        encoded escapes, hidden files and symlinks pointing out of DIR all answer 404).

        By default the server listens on 127.0.0.1 only, so nobody else can connect. On a remote machine keep \
        it that way: run `atlas serve atlas-demo` there, and on your computer
          ssh -N -L 8080:127.0.0.1:8080 you@server
        then open http://localhost:8080/ in your browser. --host 0.0.0.0 makes the folder readable by anyone \
        who can reach the machine (a warning says so).

        Keep-alive connections that stay idle for 60 s between requests are closed. \
        Ctrl-C (SIGINT) or SIGTERM stops it cleanly: the listener closes, responses in flight finish, exit \
        status 0. A port already in use exits with status 73. --port 0 picks a free port; --json prints the \
        bound address as one JSON line on stdout once listening, for scripts:
          atlas serve out --port 0 --json
          {"ip":"127.0.0.1","loopback":true,"port":40123,"root":"/…/out",
           "url":"http://127.0.0.1:40123/"}                            (one line)
        """
    )

    @Argument(help: "An output folder (with index.html and atlas.json) or a folder holding several.")
    var dir: String

    @Option(help: "Address to listen on: 127.0.0.1 (this machine only), ::1, or 0.0.0.0 for every interface.")
    var host = "127.0.0.1"

    @Option(help: "TCP port (0: any free port, printed once listening).")
    var port = 8080

    @Flag(help: "Print the bound address as one JSON line on stdout once listening.")
    var json = false

    @Flag(help: "Print one line per request on stderr (method, path, status).")
    var log = false

    @Flag(name: .shortAndLong, help: "No notes on stderr (warnings are still printed).")
    var quiet = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
    }

    func run() throws {
        let stderr = FileHandle.standardError
        let say: @Sendable (String) -> Void = { stderr.write(Data(($0 + "\n").utf8)) }
        let server = try AtlasServer(.init(root: dir, host: host, port: port, log: log ? say : nil))
        // Handle the signals before listening, so that a Ctrl-C at any time shuts down cleanly.
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [quiet] in
                if !quiet { say("atlas serve: stopping (\(number == SIGINT ? "SIGINT" : "SIGTERM"))") }
                server.shutdown()
            }
            source.resume()
            return source
        }
        let bound = try server.start()
        if json {
            let object: [String: Any] = ["url": bound.url, "ip": bound.ip, "port": bound.port, "root": server.root,
                                         "loopback": bound.isLoopback]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
        if !bound.isLoopback {
            say("atlas serve: warning: listening on \(bound.ip) port \(bound.port): anyone who can reach this machine "
                + "over the network can read every file under \(server.root). To keep it private, use the default "
                + "--host 127.0.0.1 and forward the port with ssh -L.")
        }
        if !quiet { say(notes(bound: bound, root: server.root)) }
        server.wait()
        withExtendedLifetime(signals) {}
        if !quiet { say("atlas serve: stopped") }
    }

    /// The start-up notes: URL, what was found, how to reach a loopback server from elsewhere.
    private func notes(bound: BoundAddress, root: String) -> String {
        var lines: [String] = []
        if bound.isWildcard {
            let name = ProcessInfo.processInfo.hostName
            lines.append("atlas serve: serving \(root) on all interfaces: http://\(name):\(bound.port)/ (here: \(bound.url))")
        } else {
            lines.append("atlas serve: serving \(root) at \(bound.url)")
        }
        if let lookup = FileLookup(root: root) {
            let found = Listing.scan(root, lookup: lookup)
            if found.isEmpty {
                lines.append("  no atlas or gallery output (a folder with atlas.json) found under it yet")
            } else if found.count == 1, found[0].path.isEmpty {
                lines.append("  one output folder: its viewer opens at /")
            } else {
                let names = found.prefix(6).map { $0.path }.joined(separator: ", ") + (found.count > 6 ? ", …" : "")
                lines.append("  \(found.count) output folder\(found.count == 1 ? "" : "s") listed at /: \(names)")
            }
        }
        if bound.isLoopback {
            let target = bound.ip.contains(":") ? "[\(bound.ip)]" : bound.ip
            lines.append("  loopback only: reachable from this machine. From another computer: "
                         + "ssh -N -L \(bound.port):\(target):\(bound.port) USER@THIS-HOST, then open http://localhost:\(bound.port)/")
        }
        lines.append("  Ctrl-C stops the server.")
        return lines.joined(separator: "\n")
    }
}
