/// Opt-in manual run (skipped unless ATLAS_DEMO_OUT is set): a demo gallery folder for the headless browser test
/// (`ATLAS_DEMO_OUT=<folder>`, then `scripts/viewer/browser_test.sh <folder>`). The pyramid timing that lived here is
/// the `Pyramid 16384²` benchmark in Benchmarks/ (MapBenchmarks).
import AtlasCore
import AtlasImage
import AtlasMap
import AtlasOutput
import Foundation
import XCTest

final class DemoFolderManualRun: XCTestCase {
    func testWriteDemoGallery() throws {
        guard let out = ProcessInfo.processInfo.environment["ATLAS_DEMO_OUT"] else { throw XCTSkip("ATLAS_DEMO_OUT not set") }
        var icons: [PlacedIcon] = []
        for i in 0..<60 {
            var image = Image(width: 128, height: 128, channels: 3)
            for c in 0..<3 { for y in 0..<128 { for x in 0..<128 {
                image[c, y, x] = 0.5 + 0.45 * Float(sin(Double(x * (c + 1) + y * (i % 7 + 1)) / 9 + Double(i)))
            } } }
            icons.append(PlacedIcon(image: image, cell: .init(x: i % 10, y: i / 10, channel: i, objective: "mixed4c:\(i)",
                                                               label: "channel \(i)")))
        }
        let layout = GridLayout(id: "channels", label: "channels", columns: 10, rows: 6, cellSize: 144, padding: 8,
                                background: RGB8(hex: "#111111")!, format: .jpeg(quality: 90))
        try Assembly.writeFolder(AtlasIndex(kind: .gallery, title: "Demo gallery", layer: "mixed4c", seed: 1,
                                            settings: ["steps": .int(256)], created: "2025-01-01T00:00:00Z"),
                                 grids: [(layout, icons)], to: out)
    }
}
