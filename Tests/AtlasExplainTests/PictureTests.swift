import AtlasExplain
import AtlasImage
import XCTest

final class PictureTests: XCTestCase {
    /// matplotlib's published viridis and inferno values (`_cm_listed.py`, entries 0, 64, 100, 128, 191, 250 and 255
    /// of 256; 100, 191 and 250 lie between control points).
    func testColormapsMatchThePublishedTables() {
        let anchors: [(Colormap.Name, [(Float, [Int])])] = [
            (.viridis, [(0, [68, 1, 84]), (64 / 255, [59, 82, 139]), (100 / 255, [42, 118, 142]), (128 / 255, [33, 145, 140]),
                        (191 / 255, [92, 200, 99]), (250 / 255, [241, 229, 29]), (1, [253, 231, 37])]),
            (.inferno, [(0, [0, 0, 4]), (64 / 255, [87, 16, 110]), (100 / 255, [144, 37, 104]), (128 / 255, [188, 55, 84]),
                        (191 / 255, [249, 140, 10]), (250 / 255, [245, 249, 146]), (1, [252, 255, 164])]),
        ]
        for (name, points) in anchors {
            let map = Colormap(name)
            XCTAssertEqual(map.table.count, 256)
            for (t, rgb) in points {
                let c = map.color(t)
                for (got, want) in zip([c.r, c.g, c.b], rgb) {
                    XCTAssertEqual(Double(got) * 255, Double(want), accuracy: 2.5, "\(name)(\(t))")
                }
            }
            // Perceptual maps brighten monotonically.
            let luminance = map.table.map { 0.2126 * $0.r + 0.7152 * $0.g + 0.0722 * $0.b }
            XCTAssertTrue(zip(luminance, luminance.dropFirst()).allSatisfy { $0 <= $1 + 1e-3 }, "\(name) luminance")
        }
    }

    func testOverlayHasTheLegendBarAndScalesSmallImagesUp() throws {
        let image = Image(width: 28, height: 28, channels: 1, repeating: 0.5)
        var map = [Float](repeating: 0, count: 28 * 28)
        map[0] = 2
        let overlay = HeatmapOverlay()
        let range = HeatmapOverlay.range(map)
        XCTAssertEqual(range.high, 2)
        XCTAssertFalse(range.clipped)
        let out = try overlay.render(image: image, map: map, range: range, magnitude: false)
        XCTAssertEqual(out.width, 224)
        XCTAssertEqual(out.height, 224 + 56)
        let plane = out.width * out.height
        // Pixel (0, 0) has the top value: inferno(1) blended 60% over grey 0.5.
        XCTAssertEqual(out.pixels[0], 0.4 * 0.5 + 0.6 * Colormap(.inferno).color(1).r, accuracy: 1e-5)
        // The legend bar runs from inferno(0) on the left to inferno(1) on the right.
        let barY = 224 + 8 + 5
        XCTAssertEqual(out.pixels[plane * 2 + barY * 224 + 8], Colormap(.inferno).color(0).b, accuracy: 1e-5)
        XCTAssertEqual(out.pixels[barY * 224 + 215], Colormap(.inferno).color(1).r, accuracy: 1e-5)
        XCTAssertEqual(HeatmapOverlay.format(0.012345), "0.0123")
        let clipped = HeatmapOverlay.range((0..<1000).map { Float($0) }, percentile: 99)
        XCTAssertTrue(clipped.clipped)
        XCTAssertEqual(clipped.high, 989)
    }
}
