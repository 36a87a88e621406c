import XCTest
import AtlasExplain

final class AtlasExplainPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertNotNil(AtlasExplain.self) }
}
