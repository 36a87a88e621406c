/// `IDXStack`: a plain IDX file read image by image gives exactly the images of the whole-file reader (and of the
/// gzip original), respects the limit, and a file shorter than its header says is refused up front.
import AtlasImage
import Foundation
import XCTest

final class IDXStackTests: XCTestCase {
    func testPlainStackReadsTheSameImagesAsTheWholeFileAndRefusesATruncatedOne() throws {
        let dir = NSTemporaryDirectory() + "atlas-idx-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let whole = try IDX.images(CollectTests.idxPath, limit: 50)
        // The first 50 images as a plain IDX file.
        var bytes: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 50, 0, 0, 0, 28, 0, 0, 0, 28]
        for im in whole { bytes += im.pixels.map { UInt8(($0 * 255).rounded()) } }
        let plain = dir + "/f-idx3-ubyte"
        try Data(bytes).write(to: URL(fileURLWithPath: plain))
        XCTAssertTrue(IDX.looksLikeIDX(plain))
        let stack = try IDXStack(plain), gz = try IDXStack(CollectTests.idxPath, limit: 50)
        XCTAssertEqual([stack.count, stack.height, stack.width, gz.count], [50, 28, 28, 50])
        for i in [0, 1, 17, 49] {
            XCTAssertEqual(try stack.image(i), whole[i], "image \(i)")
            XCTAssertEqual(try gz.image(i), whole[i], "image \(i)")
        }
        XCTAssertEqual(try IDXStack(plain, limit: 7).count, 7)
        let source = try ImageSource(inputs: [plain], channels: 1)
        XCTAssertEqual(source.items.count, 50)
        XCTAssertEqual(try source.image(33), whole[33])
        let cut = dir + "/cut-idx3-ubyte"
        try Data(bytes.dropLast(100)).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try IDXStack(cut)) { XCTAssertEqual(($0 as? ImageError)?.kind, .truncated) }
    }
}
