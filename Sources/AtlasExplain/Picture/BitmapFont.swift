/// A 5×7 pixel font for the numbers on legend bars: digits, `.`, `-`, `+`, `e`, `…` and space.
import AtlasImage

enum BitmapFont {
    /// Rows top to bottom; bit 4 is the leftmost pixel.
    static let glyphs: [Character: [UInt8]] = [
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ".": [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        "-": [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        "+": [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        "e": [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        "…": [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15],
        " ": [0, 0, 0, 0, 0, 0, 0],
    ]

    /// Width in pixels of `text` at `scale` (6 columns per glyph, the last one a gap).
    static func width(_ text: String, scale: Int) -> Int { max(0, text.count * 6 - 1) * scale }

    /// Draws `text` with its top-left corner at (x, y) into an RGB image; unknown characters are left blank.
    static func draw(_ text: String, into image: inout Image, x: Int, y: Int, scale: Int, color: (Float, Float, Float)) {
        let plane = image.width * image.height
        for (i, ch) in text.enumerated() {
            guard let rows = glyphs[ch] else { continue }
            for (ry, bits) in rows.enumerated() {
                for rx in 0..<5 where bits & (0x10 >> UInt8(rx)) != 0 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let px = x + (i * 6 + rx) * scale + dx, py = y + ry * scale + dy
                            guard (0..<image.width).contains(px), (0..<image.height).contains(py) else { continue }
                            let o = py * image.width + px
                            image.pixels[o] = color.0
                            image.pixels[plane + o] = color.1
                            image.pixels[2 * plane + o] = color.2
                        }
                    }
                }
            }
        }
    }
}
