import AtlasCore
import AtlasExplain
import AtlasImage
import AtlasOutput
import AtlasTestSupport
import Foundation
import XCTest

final class ActivationGridTests: XCTestCase {
    func testChannelsAreRankedAndTheFolderIsAValidIndex() throws {
        let a = TestData.uniform([1, 7, 3, 4], in: -1...1, seed: 21)
        a.data[5 * 12 + 7] = 9          // channel 5 has the largest single activation
        for i in 0..<12 { a.data[2 * 12 + i] = 3 }   // channel 2 the largest mean
        XCTAssertEqual(ActivationGrid.rank(a, by: .max).first?.channel, 5)
        XCTAssertEqual(ActivationGrid.rank(a, by: .mean).first?.channel, 2)

        let dir = NSTemporaryDirectory() + "atlas-acts-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let icon = dir + "-vis.png"
        try ImageCodec.writeAtomically(try ImageCodec.encodePNG(Image(width: 8, height: 8, channels: 3, repeating: 0.3)), to: icon)
        defer { try? FileManager.default.removeItem(atPath: icon) }
        let settings = ActivationGrid.Settings(layer: "conv", statistic: .max, input: Image(width: 4, height: 3, channels: 1, repeating: 0.5),
                                               galleryIcons: [5: icon], model: .init(file: "m.onnx"), title: "t")
        try ActivationGrid.write(a, settings: settings, to: dir)
        let index = try AtlasIndex.decode(Data(contentsOf: URL(fileURLWithPath: dir + "/atlas.json")))
        try OutputFolder.validate(index)
        XCTAssertEqual(index.kind, .activations)
        XCTAssertEqual(index.settings?["statistic"], .string("max"))
        let cells = try XCTUnwrap(index.grids.first?.cells)
        XCTAssertEqual(cells.count, 7)
        let order = cells.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
        for (r, cell) in order.enumerated() {
            let ch = try XCTUnwrap(cell.channel)
            let expected = (0..<12).map { a.data[ch * 12 + $0] }.max()!
            XCTAssertEqual(cell.value ?? .nan, Double(expected), accuracy: 1e-6, "cell value is the channel's max")
            if r > 0 { XCTAssertGreaterThanOrEqual(order[r - 1].value!, cell.value!, "ranked by max") }
            XCTAssertEqual(cell.objective, "conv:\(ch)")
            for path in [cell.icon!] + (cell.samples ?? []).compactMap(\.thumb) {
                XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + path), path)
            }
        }
        XCTAssertEqual(order.first?.icon, "vis/c0005.png", "linked to the gallery's feature visualization")
        XCTAssertEqual(order.last?.icon?.hasPrefix("maps/"), true)
        for file in ["index.html", "viewer.js", "atlas.js", "input.png"] { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + file), file) }
    }
}
