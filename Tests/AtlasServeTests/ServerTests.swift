import AtlasServe
import Foundation
import NIOCore
import XCTest

/// The server on loopback: content types, caching headers and 304s, HEAD, the listing page, folder redirects,
/// 405, the Host check, keep-alive, 200 concurrent tile requests, and shutdown.
final class ServerTests: ServerTestCase {
    func testFilesHaveTheirContentTypeCachePolicyAndExactBytes() throws {
        let cases: [(String, String, String)] = [
            ("gal/index.html", "text/html; charset=utf-8", "no-cache"),
            ("gal/viewer.js", "text/javascript; charset=utf-8", "no-cache"),
            ("gal/atlas.js", "text/javascript; charset=utf-8", "no-cache"),
            ("gal/viewer.css", "text/css; charset=utf-8", "no-cache"),
            ("gal/atlas.json", "application/json", "no-cache"),
            ("gal/channels.dzi", "application/xml", "no-cache"),
            ("gal/notes.txt", "text/plain; charset=utf-8", "no-cache"),
            ("gal/shape.svg", "image/svg+xml", "no-cache"),
            ("gal/raw.bin", "application/octet-stream", "no-cache"),
            ("gal/big.npy", "application/octet-stream", "no-cache"),
            ("gal/atlas.png", "image/png", "public, max-age=86400"),
            ("gal/tiles/channels/1/1/0.jpg", "image/jpeg", "public, max-age=86400"),
            ("gal/inside.jpg", "image/jpeg", "public, max-age=86400"),  // a symlink that stays inside the root
        ]
        for (path, type, cache) in cases {
            let r = try client.request("/" + path)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertEqual(r.headers["content-type"], type, path)
            XCTAssertEqual(r.headers["cache-control"], cache, path)
            XCTAssertEqual(r.headers["x-content-type-options"], "nosniff", path)
            XCTAssertNotNil(r.headers["etag"], path)
            XCTAssertNotNil(r.headers["last-modified"], path)
            XCTAssertEqual(r.body, try fixture.contents(path), "\(path): bytes differ")  // the 8 MiB .npy too
        }
        XCTAssertEqual(try client.request("/gal/nope.png").status, 404)
    }

    func testConditionalRequestsAnswer304UntilTheFileChanges() throws {
        let path = "/gal/tiles/channels/0/0/0.jpg"
        let first = try client.request(path)
        let etag = try XCTUnwrap(first.headers["etag"]), modified = try XCTUnwrap(first.headers["last-modified"])
        XCTAssertTrue(etag.hasPrefix("\"") && etag.hasSuffix("\""), etag)
        for header in [("If-None-Match", etag), ("If-None-Match", "W/" + etag), ("If-None-Match", "\"x\", " + etag),
                       ("If-None-Match", "*"), ("If-Modified-Since", modified)] {
            let r = try client.request(path, headers: [header])
            XCTAssertEqual(r.status, 304, "\(header)")
            XCTAssertEqual(r.body, [], "\(header)")
            XCTAssertEqual(r.headers["etag"], etag)
            XCTAssertEqual(r.headers["cache-control"], "public, max-age=86400")
        }
        // A different tag wins over a matching date: If-None-Match is decisive when present.
        XCTAssertEqual(try client.request(path, headers: [("If-None-Match", "\"other\""), ("If-Modified-Since", modified)]).status, 200)
        // Rewriting the file (as a rerun does, atomically) changes the tag.
        let replacement = ServeFixture.bytes(seed: 999, count: 1234)
        try fixture.put(replacement, "gal/tiles/channels/0/0/0.jpg.new")
        XCTAssertEqual(rename(fixture.root + "/gal/tiles/channels/0/0/0.jpg.new", fixture.root + "/gal/tiles/channels/0/0/0.jpg"), 0)
        let changed = try client.request(path, headers: [("If-None-Match", etag)])
        XCTAssertEqual(changed.status, 200)
        XCTAssertEqual(changed.body, replacement)
        XCTAssertNotEqual(changed.headers["etag"], etag)
    }

    func testHeadSendsHeadersOnly() throws {
        let r = try client.request("/gal/big.npy", method: "HEAD")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-length"], String(8 << 20))
        XCTAssertEqual(r.body, [])
        // Nothing follows the head: the exchange is exactly one header block.
        let raw = try client.exchange(Array(RawClient.requestText("/gal/big.npy", method: "HEAD", close: true).utf8)).wait()
        XCTAssertTrue(String(decoding: raw, as: UTF8.self).hasSuffix("\r\n\r\n"))
    }

    func testListingShowsEveryOutputFolderWithItsIndex() throws {
        let page = try client.request("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        let html = page.text
        for needle in ["href=\"gal/index.html\"", "href=\"sub/deeper/atl/index.html\"", "Test gallery &lt;b&gt;", "Test atlas",
                       ">gallery<", ">atlas<", "fashion_cnn.onnx", "conv2", "mixed4c", "20×20 · 1 cells", "10×10 · 1 cells",
                       "4 channels", "2026-01-02T03:04:05Z", "broken/", "unreadable atlas.json",
                       "href=\"units-out/units/conv3/index.html\"", "Test units", ">units<", "1 unit pages · 4 images"] {
            XCTAssertTrue(html.contains(needle), "listing lacks \(needle)")
        }
        // Every layer of a several-layer units folder is listed, not only the latest one.
        for layer in ["conv2", "conv3"] {
            XCTAssertTrue(html.contains("href=\"two-layers/units/\(layer)/index.html\""), "listing lacks two-layers \(layer)")
        }
        XCTAssertEqual(html.components(separatedBy: "two-layers/units/conv3/index.html").count, 2, "conv3 listed once")
        XCTAssertFalse(html.contains("<b>"), "titles must be escaped")
        XCTAssertFalse(html.contains("hidden") || html.contains("secret") || html.contains("link-out"), html)
        // A subfolder without index.html lists what is below it; a folder URL without '/' is redirected to it.
        let sub = try client.request("/sub/")
        XCTAssertEqual(sub.status, 200)
        XCTAssertTrue(sub.text.contains("href=\"deeper/atl/index.html\""), sub.text)
        XCTAssertFalse(sub.text.contains("gal/index.html"))
        let redirect = try client.request("/gal?x=1")
        XCTAssertEqual(redirect.status, 301)
        XCTAssertEqual(redirect.headers["location"], "/gal/")
        // A folder with an index.html serves it at its '/' form.
        let viewer = try client.request("/gal/")
        XCTAssertEqual(viewer.status, 200)
        XCTAssertEqual(viewer.body, try fixture.contents("gal/index.html"))
    }

    func testASingleOutputFolderServesItsViewerAtTheRoot() throws {
        server.shutdown()
        server = try AtlasServer(.init(root: fixture.root + "/gal", port: 0))
        client = RawClient(port: try server.start().port)
        let r = try client.request("/")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, try fixture.contents("gal/index.html"))
        XCTAssertEqual(try client.request("/atlas.js").status, 200)
    }

    func testOtherMethodsAre405() throws {
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"] {
            let r = try client.request("/gal/index.html", method: method, headers: [("Content-Length", "0")])
            XCTAssertEqual(r.status, 405, method)
            XCTAssertEqual(r.headers["allow"], "GET, HEAD", method)
        }
    }

    func testLoopbackServerRefusesForeignHostNames() throws {
        XCTAssertEqual(try client.request("/gal/atlas.json", host: "attacker.example").status, 403)
        XCTAssertEqual(try client.request("/gal/atlas.json", host: "10.0.0.1:\(bound.port)").status, 403)
        for host in ["localhost:\(bound.port)", "127.0.0.1:\(bound.port)", "[::1]:\(bound.port)", "LocalHost", "app.localhost"] {
            XCTAssertEqual(try client.request("/gal/atlas.json", host: host).status, 200, host)
        }
        XCTAssertTrue(bound.isLoopback)
        XCTAssertEqual(bound.ip, "127.0.0.1")
        XCTAssertEqual(bound.url, "http://127.0.0.1:\(bound.port)/")
    }

    func testKeepAliveAndPipelinedRequestsOnOneConnection() throws {
        let text = RawClient.requestText("/gal/notes.txt", close: false) + RawClient.requestText("/gal/atlas.json", close: false)
            + RawClient.requestText("/gal/viewer.css", close: true)
        let responses = try RawClient.parse(try client.exchange(Array(text.utf8)).wait())
        XCTAssertEqual(responses.map(\.status), [200, 200, 200])
        XCTAssertEqual(responses[0].body, try fixture.contents("gal/notes.txt"))
        XCTAssertEqual(responses[1].body, try fixture.contents("gal/atlas.json"))
        XCTAssertEqual(responses[2].body, try fixture.contents("gal/viewer.css"))
        XCTAssertEqual(responses[2].headers["connection"], "close")
    }

    func testTwoHundredConcurrentTileRequests() throws {
        let tiles = ["0/0/0", "1/0/0", "1/0/1", "1/1/0", "1/1/1"].map { "gal/tiles/channels/\($0).jpg" }
        let expected = try tiles.map { try fixture.contents($0) }
        let futures = (0..<200).map { i in
            client.exchange(Array(RawClient.requestText("/" + tiles[i % tiles.count], close: true).utf8), timeout: .seconds(30))
        }
        for (i, future) in futures.enumerated() {
            let r = try RawClient.parse(try future.wait())
            XCTAssertEqual(r.count, 1)
            XCTAssertEqual(r.first?.status, 200, "request \(i)")
            XCTAssertEqual(r.first?.body, expected[i % tiles.count], "request \(i)")
        }
    }

    func testShutdownClosesIdleConnectionsAndStopsListening() throws {
        // An idle keep-alive connection (as browsers keep) must not hold the shutdown up.
        let idle = client.exchange(Array(RawClient.requestText("/gal/notes.txt", close: false).utf8), timeout: .seconds(30))
        for _ in 0..<200 where server.connectionCount == 0 { usleep(10_000) }
        XCTAssertEqual(server.connectionCount, 1)
        let start = Date()
        server.shutdown()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.5, "an idle connection is closed at once, not after the grace period")
        let responses = try RawClient.parse(try idle.wait())
        XCTAssertEqual(responses.map(\.status), [200])
        XCTAssertThrowsError(try client.request("/gal/notes.txt"), "nothing listens after shutdown")
        server.shutdown()  // idempotent
    }

    func testIdleKeepAliveConnectionsAreClosedAfterTheTimeout() throws {
        let quick = try AtlasServer(.init(root: fixture.root, host: "127.0.0.1", port: 0, idleTimeout: .milliseconds(300)))
        let address = try quick.start()
        defer { quick.shutdown() }
        let start = Date()
        // The client keeps the connection open; `exchange` returns when the server closes it.
        let quickClient = RawClient(port: address.port)
        let bytes = try quickClient.exchange(Array(RawClient.requestText("/gal/notes.txt", close: false).utf8),
                                             timeout: .seconds(10)).wait()
        let waited = Date().timeIntervalSince(start)
        XCTAssertEqual(try RawClient.parse(bytes).map(\.status), [200])
        XCTAssertGreaterThan(waited, 0.25, "closed only once idle for the timeout")
        for _ in 0..<200 where quick.connectionCount > 0 { usleep(10_000) }
        XCTAssertEqual(quick.connectionCount, 0)
    }

    func testBindErrorsAreTyped() throws {
        XCTAssertThrowsError(try AtlasServer(.init(root: fixture.root, port: bound.port)).start()) { error in
            XCTAssertEqual(error as? ServeError, .addressInUse(host: "127.0.0.1", port: bound.port))
        }
        XCTAssertThrowsError(try AtlasServer(.init(root: fixture.root + "/nope"))) { error in
            XCTAssertEqual(error as? ServeError, .notAFolder(fixture.root + "/nope"))
        }
        XCTAssertThrowsError(try AtlasServer(.init(root: fixture.root + "/gal/index.html"))) { error in
            XCTAssertEqual(error as? ServeError, .notAFolder(fixture.root + "/gal/index.html"))
        }
    }
}
