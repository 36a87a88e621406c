/// `RequestHandler`: one per connection, after NIO's HTTP/1.1 server pipeline. GET and HEAD only; the path is
/// validated (`RequestPath`), resolved on the thread pool (`FileLookup`), and files are streamed with a
/// `FileRegion` (sendfile), never read into memory.
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What every connection of one server shares.
struct ServeContext: Sendable {
    let lookup: FileLookup
    let threadPool: NIOThreadPool
    /// Bound to loopback: refuse requests whose Host is not a loopback name (DNS-rebinding defence).
    let loopbackOnly: Bool
    /// Receives one line per answered request, when set.
    let log: (@Sendable (String) -> Void)?
}

/// What a request resolved to on disk (computed on the thread pool).
enum Resolution: Sendable {
    case file(OpenedFile, relative: String)
    case redirect(String)
    case page(String)
    case notFound
}

final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let serve: ServeContext
    private var request: HTTPRequestHead?
    /// Responses started and not yet written (a read timeout then means a slow download, not an idle client).
    private var inFlight = 0

    init(serve: ServeContext) { self.serve = serve }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // GET/HEAD carry no body worth reading; others are refused at .end
        case .end:
            guard let head = request else { return }
            request = nil
            inFlight += 1
            respond(to: head, context: context)
        }
    }

    /// Closes a keep-alive connection that stayed idle past the server's `idleTimeout` between requests.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            if inFlight == 0 && request == nil { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else {
            return sendText(.methodNotAllowed, "Only GET and HEAD are served.\n", for: head, context: context,
                            extra: [("Allow", "GET, HEAD")])
        }
        if serve.loopbackOnly, !RequestHandler.isLoopbackName(head.headers.first(name: "host")) {
            return sendText(.forbidden, "This server answers only requests addressed to localhost.\n", for: head, context: context)
        }
        guard let path = RequestPath(target: head.uri) else {
            return sendText(.notFound, "Not found.\n", for: head, context: context)
        }
        let lookup = serve.lookup
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        serve.threadPool.runIfActive(eventLoop: context.eventLoop) {
            RequestHandler.resolve(path, lookup: lookup)
        }.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(.file(let file, let relative)): handler.sendFile(file, relative: relative, for: head, context: context)
            case .success(.redirect(let location)):
                handler.sendText(.movedPermanently, "Moved to \(location)\n", for: head, context: context, extra: [("Location", location)])
            case .success(.page(let html)):
                handler.sendText(.ok, html, for: head, context: context, contentType: "text/html; charset=utf-8")
            case .success(.notFound): handler.sendText(.notFound, "Not found.\n", for: head, context: context)
            case .failure: handler.sendText(.serviceUnavailable, "The server is shutting down.\n", for: head, context: context)
            }
        }
    }

    /// The blocking part: file, folder (its index.html, a redirect to its `/` form, or the listing), or 404.
    static func resolve(_ path: RequestPath, lookup: FileLookup) -> Resolution {
        switch lookup.lookup(path.segments) {
        case .notFound:
            return .notFound
        case .file(let file):
            guard !path.trailingSlash else { close(file.descriptor); return .notFound }
            return .file(file, relative: path.relative)
        case .directory(let real):
            guard path.trailingSlash || path.segments.isEmpty else { return .redirect(path.raw + "/") }
            switch lookup.lookup(path.segments + ["index.html"]) {
            case .file(let file): return .file(file, relative: path.segments.isEmpty ? "index.html" : path.relative + "/index.html")
            case .directory, .notFound: break
            }
            let title = path.segments.last ?? String(lookup.root.split(separator: "/").last ?? "/")
            return .page(Listing.html(title: title, entries: Listing.scan(real, lookup: lookup)))
        }
    }

    private func sendFile(_ file: OpenedFile, relative: String, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: file.descriptor)
        let etag = FileHeaders.etag(for: file)
        let lastModified = FileHeaders.httpDate(secondsSince1970: file.modified.seconds)
        var headers = baseHeaders(for: head)
        headers.add(name: "ETag", value: etag)
        headers.add(name: "Last-Modified", value: lastModified)
        headers.add(name: "Cache-Control", value: FileHeaders.cacheControl(for: relative))
        if FileHeaders.notModified(ifNoneMatch: head.headers["if-none-match"], ifModifiedSince: head.headers.first(name: "if-modified-since"),
                                   etag: etag, lastModified: lastModified) {
            try? handle.close()
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .notModified, headers: headers))), promise: nil)
            return finish(head, status: .notModified, context: context)
        }
        headers.add(name: "Content-Type", value: FileHeaders.contentType(for: relative))
        headers.add(name: "Content-Length", value: String(file.size))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        guard head.method == .GET, file.size > 0 else {
            try? handle.close()
            return finish(head, status: .ok, context: context)
        }
        let region = FileRegion(fileHandle: handle, readerIndex: 0, endIndex: file.size)
        context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
        finish(head, status: .ok, context: context) { try? handle.close() }
    }

    private func sendText(_ status: HTTPResponseStatus, _ text: String, for head: HTTPRequestHead, context: ChannelHandlerContext,
                          contentType: String = "text/plain; charset=utf-8", extra: [(String, String)] = []) {
        var headers = baseHeaders(for: head)
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in extra { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        finish(head, status: status, context: context)
    }

    /// Headers of every response: framing for keep-alive, Date, and no MIME sniffing.
    private func baseHeaders(for head: HTTPRequestHead) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Server", value: "atlas")
        headers.add(name: "Date", value: FileHeaders.httpDate(secondsSince1970: Int(time(nil))))
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        else if head.version.minor == 0 { headers.add(name: "Connection", value: "keep-alive") }
        return headers
    }

    /// Ends the response, logs it, runs `done` once written (or failed), and closes a non-keep-alive connection.
    private func finish(_ head: HTTPRequestHead, status: HTTPResponseStatus, context: ChannelHandlerContext,
                        done: (@Sendable () -> Void)? = nil) {
        serve.log?("\(head.method) \(head.uri) \(status.code)")
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            handler.value.inFlight -= 1
            done?()
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    /// Whether a Host header names this machine's loopback (`localhost`, `*.localhost`, 127.x.y.z, `[::1]`),
    /// with or without a port. A missing Host (HTTP/1.0) is accepted.
    static func isLoopbackName(_ host: String?) -> Bool {
        guard let host = host?.lowercased() else { return true }
        var name = Substring(host)
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            return name[name.index(after: name.startIndex)..<close] == "::1"
        }
        if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
