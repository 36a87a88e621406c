import AtlasOutput
import AtlasServe
import Foundation
import NIOCore
import NIOPosix
import XCTest

/// One HTTP response as the bytes on the wire said it.
struct RawResponse {
    let status: Int
    /// Header names lower-cased; repeated headers joined with ", ".
    let headers: [String: String]
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

enum ClientError: Error { case timeout, malformed(String) }

/// A minimal HTTP/1.1 client on NIO that sends request bytes exactly as given (no URL normalisation, unlike
/// URLSession/curl, which would squash `..`) and parses what comes back. Loopback only.
final class RawClient {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let port: Int

    init(port: Int) { self.port = port }
    deinit { try? group.syncShutdownGracefully() }

    /// Sends `raw` on a new connection and returns every byte until the server closes it (or `timeout`).
    func exchange(_ raw: [UInt8], timeout: TimeAmount = .seconds(20)) -> EventLoopFuture<[UInt8]> {
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(promise)) }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenComplete { result in
                switch result {
                case .failure(let error): promise.fail(error)
                case .success(let channel):
                    channel.writeAndFlush(channel.allocator.buffer(bytes: raw), promise: nil)
                    let timer = loop.scheduleTask(in: timeout) { promise.fail(ClientError.timeout); channel.close(promise: nil) }
                    promise.futureResult.whenComplete { _ in timer.cancel() }
                }
            }
        return promise.futureResult
    }

    /// One request `METHOD target` with `Connection: close`, parsed.
    func request(_ target: String, method: String = "GET", headers: [(String, String)] = [], host: String? = nil) throws -> RawResponse {
        let bytes = try exchange(Array(RawClient.requestText(target, method: method, headers: headers, host: host, close: true).utf8)).wait()
        let responses = try RawClient.parse(bytes, head: method == "HEAD")
        guard responses.count == 1 else { throw ClientError.malformed("\(responses.count) responses to one request") }
        return responses[0]
    }

    /// The text of one request.
    static func requestText(_ target: String, method: String = "GET", headers: [(String, String)] = [], host: String? = nil, close: Bool) -> String {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1")\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if close { text += "Connection: close\r\n" }
        return text + "\r\n"
    }

    /// Splits a byte stream into responses, framed by Content-Length (`head`: responses without bodies).
    static func parse(_ bytes: [UInt8], head: Bool = false) throws -> [RawResponse] {
        var out: [RawResponse] = []
        var i = 0
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while i < bytes.count {
            guard let end = (i...(bytes.count - separator.count)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
                throw ClientError.malformed("no header end")
            }
            let lines = String(decoding: bytes[i..<end], as: UTF8.self).components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ClientError.malformed(lines[0]) }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased(), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = headers[name].map { $0 + ", " + value } ?? value
            }
            let hasBody = !head && status != 304 && status != 204
            let length = hasBody ? Int(headers["content-length"] ?? "0") ?? 0 : 0
            let start = end + 4
            guard start + length <= bytes.count else { throw ClientError.malformed("body shorter than Content-Length") }
            out.append(RawResponse(status: status, headers: headers, body: Array(bytes[start..<start + length])))
            i = start + length
        }
        return out
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<[UInt8]>
        var bytes: [UInt8] = []
        init(_ promise: EventLoopPromise<[UInt8]>) { self.promise = promise }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        func channelInactive(context: ChannelHandlerContext) { promise.succeed(bytes) }
        func errorCaught(context: ChannelHandlerContext, error: Error) { promise.fail(error); context.close(promise: nil) }
    }
}

/// A temporary tree: `root/` to serve, `outside/secret.txt` beside it, and symlinks between them.
struct ServeFixture {
    let base: String
    var root: String { base + "/root" }
    static let secret = "TOP-SECRET-\(UUID().uuidString)"

    /// Builds the tree:
    /// ```
    /// root/gal/                 gallery output folder: index + viewer + tiles/channels/{0,1}/x/y.jpg + extra files
    /// root/sub/deeper/atl/      atlas output folder (two grids)
    /// root/units-out/units.json  an atlas units index
    /// root/two-layers/          a units output of layers conv2 and conv3 (units/<layer>/units.json each)
    /// root/broken/atlas.json    not JSON
    /// root/.hidden/secret.txt, root/link-out -> ../outside, root/gal/escape.txt -> ../../outside/secret.txt,
    /// root/gal/inside.jpg -> tiles/channels/0/0/0.jpg
    /// ```
    init() throws {
        base = NSTemporaryDirectory() + "atlas-serve-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        try Data(ServeFixture.secret.utf8).write(to: URL(fileURLWithPath: base + "/outside/secret.txt"))
        let gal = try OutputFolder(path: base + "/root/gal")
        try gal.writeViewer()
        try gal.writeIndex(ServeFixture.index(kind: .gallery, title: "Test gallery <b>", layer: "conv2", grids: [("channels", "4 channels")]))
        for z in 0...1 {
            for x in 0..<(z + 1) { for y in 0..<(z + 1) { try put(ServeFixture.bytes(seed: 100 * z + 10 * x + y, count: 3000), "gal/tiles/channels/\(z)/\(x)/\(y).jpg") } }
        }
        for (name, size) in [("atlas.png", 5000), ("big.npy", 8 << 20), ("channels.dzi", 300), ("notes.txt", 40), ("shape.svg", 90), ("raw.bin", 10)] {
            try put(ServeFixture.bytes(seed: size, count: size), "gal/" + name)
        }
        let atl = try OutputFolder(path: base + "/root/sub/deeper/atl")
        try atl.writeViewer()
        try atl.writeIndex(ServeFixture.index(kind: .atlas, title: "Test atlas", layer: "mixed4c", grids: [("g20", "20×20"), ("g10", "10×10")]))
        // An `atlas units` output: listed by its units.json, linked to its layer page.
        try put(Array(ServeFixture.unitsJSON.utf8), "units-out/units.json")
        // A units output of two layers: OUT/units.json is the latest; each layer has its own index below units/.
        let second = ServeFixture.unitsJSON.replacingOccurrences(of: "conv3", with: "conv2")
        try put(Array(second.utf8), "two-layers/units.json")
        try put(Array(second.utf8), "two-layers/units/conv2/units.json")
        try put(Array(ServeFixture.unitsJSON.utf8), "two-layers/units/conv3/units.json")
        try fm.createDirectory(atPath: base + "/root/broken", withIntermediateDirectories: true)
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: base + "/root/broken/atlas.json"))
        try fm.createDirectory(atPath: base + "/root/.hidden", withIntermediateDirectories: true)
        try Data(ServeFixture.secret.utf8).write(to: URL(fileURLWithPath: base + "/root/.hidden/secret.txt"))
        try fm.createSymbolicLink(atPath: base + "/root/link-out", withDestinationPath: "../outside")
        try fm.createSymbolicLink(atPath: base + "/root/gal/escape.txt", withDestinationPath: "../../outside/secret.txt")
        try fm.createSymbolicLink(atPath: base + "/root/gal/abs-escape.txt", withDestinationPath: base + "/outside/secret.txt")
        try fm.createSymbolicLink(atPath: base + "/root/gal/inside.jpg", withDestinationPath: "tiles/channels/0/0/0.jpg")
    }

    static let unitsJSON = """
    {"format":"atlas-units","version":1,"title":"Test units","model":{"file":"fashion_cnn.onnx"},"layer":"conv3","value":"v",
     "layerId":"conv3","page":"units/conv3/index.html","input":[1,28,28],"spatial":[14,14],
     "field":{"stride":[2,2],"size":[10,10],"global":false,"rows":[],"columns":[]},"settings":{},"candidates":5,"images":4,
     "skipped":[],"units":[{"channel":0,"images":4,"fired":2,"fraction":0.5,"histogram":[],"page":"units/conv3/0.html","top":[]}]}
    """

    /// Writes bytes at a root-relative path, creating folders.
    func put(_ bytes: [UInt8], _ relative: String) throws {
        let url = URL(fileURLWithPath: root + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func remove() { try? FileManager.default.removeItem(atPath: base) }

    func contents(_ relative: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative))) }

    /// Deterministic filler bytes.
    static func bytes(seed: Int, count: Int) -> [UInt8] {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func index(kind: AtlasIndex.Kind, title: String, layer: String, grids: [(String, String)]) -> AtlasIndex {
        AtlasIndex(kind: kind, title: title, model: .init(file: "fashion_cnn.onnx"), layer: layer, seed: 1,
                   created: "2026-01-02T03:04:05Z",
                   grids: grids.map { id, label in
                       AtlasIndex.Grid(id: id, label: label, columns: 2, rows: 2, cellSize: 256,
                                       canvas: .init(width: 512, height: 512),
                                       tiles: .init(path: "tiles/\(id)/{z}/{x}/{y}.jpg", maxZoom: 1, format: "jpg"),
                                       cells: [.init(x: 0, y: 0, rect: [0, 0, 256, 256], channel: 0, objective: "\(layer):0")])
                   })
    }
}

/// A server on 127.0.0.1, port 0, over a fresh fixture; stopped and removed at teardown.
class ServerTestCase: XCTestCase {
    var fixture: ServeFixture!
    var server: AtlasServer!
    var client: RawClient!
    var bound: BoundAddress!

    override func setUpWithError() throws {
        fixture = try ServeFixture()
        server = try AtlasServer(.init(root: fixture.root, host: "127.0.0.1", port: 0))
        bound = try server.start()
        client = RawClient(port: bound.port)
    }

    override func tearDown() {
        server?.shutdown()
        client = nil
        fixture?.remove()
    }
}
