/// `AtlasServer`: the HTTP server behind `atlas serve` — SwiftNIO event loops, HTTP/1.1 with keep-alive and
/// pipelining, a thread pool for file-system calls, and a graceful shutdown (stop accepting, let in-flight
/// responses finish, close idle connections).
import Dispatch
import NIOConcurrencyHelpers
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

/// Why a server could not start, each naming what to change.
public enum ServeError: Error, CustomStringConvertible, Equatable {
    /// The folder to serve is missing or not a folder.
    case notAFolder(String)
    /// Another process listens on the address.
    case addressInUse(host: String, port: Int)
    /// The system refused the bind (a port below 1024 without privileges, or an address not on this machine).
    case bindRefused(host: String, port: Int, reason: String)
    /// The host name could not be resolved.
    case badHost(String)

    public var description: String {
        switch self {
        case .notAFolder(let path): return "\(path): not a folder (give an output folder or a folder holding several)"
        case .addressInUse(let host, let port):
            return "\(host):\(port) is already in use; choose another port with --port (or --port 0 for any free one)"
        case .bindRefused(let host, let port, let reason): return "cannot listen on \(host):\(port): \(reason)"
        case .badHost(let host): return "cannot listen on host '\(host)': not an address of this machine or an unknown name"
        }
    }
}

/// The address a started server listens on.
public struct BoundAddress: Sendable, Equatable {
    /// Numeric IP address (`127.0.0.1`, `::1`, `0.0.0.0` …).
    public let ip: String
    public let port: Int

    /// Whether only this machine can connect (127.0.0.0/8 or ::1).
    public var isLoopback: Bool { ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.") }
    /// Whether the server listens on every interface (`0.0.0.0` or `::`).
    public var isWildcard: Bool { ip == "0.0.0.0" || ip == "::" }
    /// A URL that reaches the server from this machine.
    public var url: String {
        let host = isWildcard ? (ip.contains(":") ? "::1" : "127.0.0.1") : ip
        return "http://" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)/"
    }
}

/// An HTTP server for one output folder or a tree of them (see `RequestPath`, `FileLookup`, `Listing`).
public final class AtlasServer: @unchecked Sendable {
    /// What to serve and where.
    public struct Configuration: Sendable {
        public var root: String
        public var host: String
        public var port: Int
        /// Event-loop threads (default: cores, at most 4; serving is I/O-bound).
        public var eventLoopThreads: Int
        /// Threads for blocking file-system calls (open, stat, realpath, folder scans).
        public var fileThreads: Int
        /// Receives one line per request (`GET /a.png 200`), when set.
        public var log: (@Sendable (String) -> Void)?
        /// A keep-alive connection that sends nothing for this long between requests is closed (never while a
        /// response is being written); nil keeps idle connections open.
        public var idleTimeout: TimeAmount?

        public init(root: String, host: String = "127.0.0.1", port: Int = 8080, eventLoopThreads: Int? = nil,
                    fileThreads: Int = 4, idleTimeout: TimeAmount? = .seconds(60), log: (@Sendable (String) -> Void)? = nil) {
            self.root = root; self.host = host; self.port = port
            self.eventLoopThreads = eventLoopThreads ?? min(4, System.coreCount)
            self.fileThreads = fileThreads; self.idleTimeout = idleTimeout; self.log = log
        }
    }

    public let configuration: Configuration
    /// Real path of the served folder.
    public var root: String { lookup.root }

    private let lookup: FileLookup
    private let group: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool
    private let state = NIOLockedValueBox(State())
    private let stopped = DispatchGroup()

    private struct State {
        var listener: Channel?
        var bound: BoundAddress?
        var connections: [ObjectIdentifier: Channel] = [:]
        var phase = Phase.idle
    }
    private enum Phase { case idle, running, stopping, stopped }

    /// Checks the folder; nothing listens until `start()`.
    public init(_ configuration: Configuration) throws {
        guard let lookup = FileLookup(root: configuration.root) else { throw ServeError.notAFolder(configuration.root) }
        self.configuration = configuration
        self.lookup = lookup
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        threadPool = NIOThreadPool(numberOfThreads: max(1, configuration.fileThreads))
        threadPool.start()
        stopped.enter()  // left by shutdown()
    }

    deinit {
        if state.withLockedValue({ $0.phase }) != .stopped { shutdown() }
    }

    /// Binds and starts accepting connections; returns the bound address (the real port when `port` is 0).
    @discardableResult
    public func start() throws -> BoundAddress {
        try state.withLockedValue { s in
            guard s.phase == .idle else { throw ServeError.bindRefused(host: configuration.host, port: configuration.port, reason: "already started") }
            s.phase = .running
        }
        let listener: Channel
        do {
            listener = try bootstrap().bind(host: configuration.host, port: configuration.port).wait()
        } catch {
            shutdown()
            throw translate(error)
        }
        guard let address = listener.localAddress, let ip = address.ipAddress, let port = address.port else {
            shutdown()
            throw ServeError.badHost(configuration.host)
        }
        let bound = BoundAddress(ip: ip, port: port)
        state.withLockedValue { $0.listener = listener; $0.bound = bound }
        return bound
    }

    /// Stops accepting, lets responses in flight finish (idle keep-alive connections close at once), closes what
    /// is still open after `grace`, and releases the threads. Idempotent; blocks until done, so call it from
    /// outside the server's event loops (a signal handler queue, a test, `main`).
    public func shutdown(grace: TimeAmount = .seconds(3)) {
        let (mine, listener) = state.withLockedValue { s -> (Bool, Channel?) in
            guard s.phase == .running || s.phase == .idle else { return (false, nil) }
            s.phase = .stopping
            return (true, s.listener)
        }
        guard mine else { return stopped.wait() }  // another caller is shutting down
        try? listener?.close().wait()
        let open = state.withLockedValue { Array($0.connections.values) }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        let loop = group.next()
        let deadline = loop.scheduleTask(in: grace) { [state] in
            for channel in state.withLockedValue({ Array($0.connections.values) }) { channel.close(promise: nil) }
        }
        try? EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: loop).wait()
        deadline.cancel()
        try? threadPool.syncShutdownGracefully()
        try? group.syncShutdownGracefully()
        state.withLockedValue { $0.phase = .stopped }
        stopped.leave()
    }

    /// Blocks until the server has shut down.
    public func wait() { stopped.wait() }

    /// Open client connections (for tests and diagnostics).
    public var connectionCount: Int { state.withLockedValue { $0.connections.count } }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let self, let serve = self.track(channel) else { throw ChannelError.ioOnClosedChannel }
                    if let idle = self.configuration.idleTimeout {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(serve: serve))
                }
            }
    }

    /// Remembers an accepted connection until it closes and returns what its handler needs; nil (refuse the
    /// connection) once shutdown has begun.
    private func track(_ channel: Channel) -> ServeContext? {
        let id = ObjectIdentifier(channel)
        let bound = state.withLockedValue { s -> BoundAddress?? in
            guard s.phase == .running else { return .none }
            s.connections[id] = channel
            return .some(s.bound)
        }
        guard let bound else { return nil }
        channel.closeFuture.whenComplete { [state] _ in state.withLockedValue { _ = $0.connections.removeValue(forKey: id) } }
        // Loopback servers refuse foreign Host headers; before the bound address is stored, judge by the host asked for.
        let loopbackOnly = bound?.isLoopback ?? (configuration.host == "localhost" || BoundAddress(ip: configuration.host, port: 0).isLoopback)
        return ServeContext(lookup: lookup, threadPool: threadPool, loopbackOnly: loopbackOnly, log: configuration.log)
    }

    /// Maps bind failures to `ServeError`.
    private func translate(_ error: Error) -> Error {
        let host = configuration.host, port = configuration.port
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return ServeError.addressInUse(host: host, port: port)
            case EACCES, EPERM: return ServeError.bindRefused(host: host, port: port, reason: "permission denied (ports below 1024 need privileges)")
            case EADDRNOTAVAIL: return ServeError.badHost(host)
            default: return ServeError.bindRefused(host: host, port: port, reason: "\(io)")
            }
        }
        if error is SocketAddressError { return ServeError.badHost(host) }
        return ServeError.bindRefused(host: host, port: port, reason: "\(error)")
    }
}
