import AtlasServe
import Foundation
import XCTest

/// Every way out of the served folder answers 404 (or 400 where the HTTP parser already refuses the bytes), and
/// the secret beside the root never appears in a response.
final class TraversalTests: ServerTestCase {
    func testEscapesAreNotFound() throws {
        let targets = [
            "/../outside/secret.txt", "/gal/../../outside/secret.txt", "/gal/../gal/index.html", "/./gal/index.html",
            "/%2e%2e/outside/secret.txt", "/%2E%2E/outside/secret.txt", "/.%2e/outside/secret.txt", "/%2e./outside/secret.txt",
            "/gal/%2e%2e%2f%2e%2e%2foutside%2fsecret.txt", "/..%2foutside%2fsecret.txt", "/%2fetc%2fpasswd", "/%2Fetc/passwd",
            "/%252e%252e/outside/secret.txt", "/%252e%252e%252foutside/secret.txt", "/%25%32%65%25%32%65/outside/secret.txt",
            "/..%5coutside%5csecret.txt", "/gal%5c..%5c..%5coutside/secret.txt",
            "/%00", "/gal/index.html%00", "/gal/index.html%00.txt", "/%c0%ae%c0%ae/outside/secret.txt", "/%ff",
            "/gal/%", "/gal/%2", "/gal/%zz",
            "//etc/passwd", "///etc/passwd", "/gal//index.html", "/etc/passwd", "/proc/self/environ",
            "http://127.0.0.1/../outside/secret.txt", "http://127.0.0.1/gal/index.html", "*",
            "/link-out/secret.txt", "/link-out/", "/gal/escape.txt", "/gal/abs-escape.txt",
            "/.hidden/secret.txt", "/%2ehidden/secret.txt", "/gal/.atlas.json.tmp-1", "/gal/index.html/", "/gal/index.html/..",
            "/..", "/...", "/gal/...",
        ]
        for target in targets {
            let r = try client.request(target)
            XCTAssertEqual(r.status, 404, target)
            XCTAssertFalse(r.text.contains(ServeFixture.secret), target)
        }
    }

    func testRawBytesTheParserMayRefuseNeverServe() throws {
        // Backslashes, NUL and other control bytes on the wire, a target without its leading slash: 404 from the
        // server or 400 from the HTTP parser.
        for target in ["gal/index.html", "/..\\outside\\secret.txt", "/gal\\..\\..\\outside/secret.txt", "/gal/index.html\u{0}", "/gal/\u{1}x",
                       "/gal/index.html\u{7f}"] {
            let bytes = try client.exchange(Array(RawClient.requestText(target, close: true).utf8)).wait()
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 404") || text.hasPrefix("HTTP/1.1 400"), "\(target.debugDescription): \(text.prefix(40))")
            XCTAssertFalse(text.contains(ServeFixture.secret))
        }
    }

    func testTheSecretIsReallyThereAndSymlinksInsideWork() throws {
        // The escapes above fail because of the checks, not because the fixture is wrong.
        XCTAssertEqual(try String(contentsOfFile: fixture.base + "/outside/secret.txt", encoding: .utf8), ServeFixture.secret)
        XCTAssertEqual(try String(contentsOfFile: fixture.root + "/gal/escape.txt", encoding: .utf8), ServeFixture.secret)
        XCTAssertEqual(try String(contentsOfFile: fixture.root + "/link-out/secret.txt", encoding: .utf8), ServeFixture.secret)
        XCTAssertEqual(try client.request("/gal/inside.jpg").status, 200)
        XCTAssertEqual(try client.request("/gal/tiles/channels/0/0/0.jpg?v=2#frag").status, 200)
        XCTAssertEqual(try client.request("/gal/%69ndex.html").status, 200)  // plain escapes still decode
    }

    func testARootThatIsItselfASymlinkStillServesAndStillConfines() throws {
        let link = fixture.base + "/root-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fixture.root)
        server.shutdown()
        server = try AtlasServer(.init(root: link, port: 0))
        client = RawClient(port: try server.start().port)
        XCTAssertEqual(server.root, fixture.root.resolvingSymlinksInPath)
        XCTAssertEqual(try client.request("/gal/index.html").status, 200)
        XCTAssertEqual(try client.request("/gal/escape.txt").status, 404)
    }
}

private extension String {
    var resolvingSymlinksInPath: String { URL(fileURLWithPath: self).resolvingSymlinksInPath().path }
}
