import AtlasServe
import XCTest

/// The pure parts: request-target parsing, HTTP dates, validators and content types.
final class RequestPathTests: XCTestCase {
    func testTargetsParseIntoDecodedSegments() {
        let p = RequestPath(target: "/a%20b/c%C3%A9.png?x=/../y")
        XCTAssertEqual(p?.segments, ["a b", "cé.png"])
        XCTAssertEqual(p?.trailingSlash, false)
        XCTAssertEqual(p?.raw, "/a%20b/c%C3%A9.png")
        XCTAssertEqual(RequestPath(target: "/")?.segments, [])
        XCTAssertEqual(RequestPath(target: "/")?.trailingSlash, true)
        XCTAssertEqual(RequestPath(target: "/tiles/g/")?.segments, ["tiles", "g"])
        XCTAssertEqual(RequestPath(target: "/tiles/g/")?.trailingSlash, true)
        for bad in ["", "x", "*", "//a", "/a//b", "/..", "/a/../b", "/%2e%2e", "/a%2fb", "/a%5cb", "/a\\b", "/%00", "/a%",
                    "/a%g0", "/%252e", "/.git/config", "/%c3", "/a\u{0}"] {
            XCTAssertNil(RequestPath(target: bad), bad.debugDescription)
        }
        XCTAssertEqual(RequestPath.encodeSegment("a b/é~.png"), "a%20b%2F%C3%A9~.png")
    }

    func testHTTPDatesAndValidators() {
        XCTAssertEqual(FileHeaders.httpDate(secondsSince1970: 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")  // RFC 9110's example
        XCTAssertEqual(FileHeaders.httpDate(secondsSince1970: 0), "Thu, 01 Jan 1970 00:00:00 GMT")
        let tag = "\"1-2\"", date = "Sun, 06 Nov 1994 08:49:37 GMT"
        XCTAssertTrue(FileHeaders.notModified(ifNoneMatch: ["\"0\" , W/\"1-2\""], ifModifiedSince: nil, etag: tag, lastModified: date))
        XCTAssertFalse(FileHeaders.notModified(ifNoneMatch: ["\"1-3\""], ifModifiedSince: date, etag: tag, lastModified: date))
        XCTAssertTrue(FileHeaders.notModified(ifNoneMatch: [], ifModifiedSince: " " + date, etag: tag, lastModified: date))
        XCTAssertFalse(FileHeaders.notModified(ifNoneMatch: [], ifModifiedSince: nil, etag: tag, lastModified: date))
    }

    func testContentTypesAndCachePolicy() {
        XCTAssertEqual(FileHeaders.contentType(for: "a/B.JPG"), "image/jpeg")
        XCTAssertEqual(FileHeaders.contentType(for: "x.tar.gz"), "application/octet-stream")
        XCTAssertEqual(FileHeaders.contentType(for: ".hidden"), "application/octet-stream")
        XCTAssertEqual(FileHeaders.cacheControl(for: "tiles/g/3/1/2.png"), FileHeaders.longCache)
        XCTAssertEqual(FileHeaders.cacheControl(for: "atlas.js"), FileHeaders.revalidate)
    }
}
