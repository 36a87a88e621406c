import XCTest
import AtlasServe

final class AtlasServePlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertNotNil(AtlasServe.self) }
}
