/// Perceptually uniform colormaps (matplotlib's viridis and inferno, van der Walt & Smith 2015, CC0): a 256-entry
/// table interpolated linearly from 33 control points of the published tables (every 8th entry and the last, as
/// printed by scripts/fixtures/colormap_anchors.py); within 2/255 of the published values.
import AtlasImage

public struct Colormap: Sendable {
    public enum Name: String, CaseIterable, Sendable { case inferno, viridis }

    public let name: Name
    /// 256 RGB entries in [0, 1], for values 0/255 … 255/255.
    public let table: [(r: Float, g: Float, b: Float)]

    public init(_ name: Name) {
        self.name = name
        let points = Colormap.controlPoints(name).map { hex in
            (r: Float(hex >> 16 & 0xFF) / 255, g: Float(hex >> 8 & 0xFF) / 255, b: Float(hex & 0xFF) / 255)
        }
        table = (0..<256).map { i in
            let j = min(i / 8, points.count - 2)
            let lo = j * 8, hi = j + 1 == points.count - 1 ? 255 : lo + 8
            let f = Float(i - lo) / Float(hi - lo)
            let a = points[j], b = points[j + 1]
            return (a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f)
        }
    }

    /// The colour of `t` in [0, 1] (clamped; NaN maps to 0).
    public func color(_ t: Float) -> (r: Float, g: Float, b: Float) {
        let i = t.isNaN ? 0 : Int((min(1, max(0, t)) * 255).rounded())
        return table[i]
    }

    /// Entries 0, 8, …, 248 and 255 of the published 256-entry table, as 0xRRGGBB.
    static func controlPoints(_ name: Name) -> [UInt32] {
        switch name {
        case .viridis:
            return [0x440154, 0x470D60, 0x48186A, 0x482374, 0x472D7B, 0x453781, 0x424086, 0x3E4989, 0x3B528B, 0x375B8D, 0x33638D,
                    0x2F6B8E, 0x2C728E, 0x297A8E, 0x26828E, 0x23898E, 0x21918C, 0x1F988B, 0x1FA088, 0x22A785, 0x28AE80, 0x32B67A,
                    0x3FBC73, 0x4EC36B, 0x5EC962, 0x70CF57, 0x84D44B, 0x98D83E, 0xADDC30, 0xC2DF23, 0xD8E219, 0xECE51B, 0xFDE725]
        case .inferno:
            return [0x000004, 0x040312, 0x0B0724, 0x150B37, 0x210C4A, 0x2F0A5B, 0x3D0965, 0x4A0C6B, 0x57106E, 0x64156E, 0x71196E,
                    0x7D1E6D, 0x8A226A, 0x972766, 0xA32C61, 0xB0315B, 0xBC3754, 0xC73E4C, 0xD24644, 0xDB503B, 0xE45A31, 0xEB6628,
                    0xF1731D, 0xF68013, 0xF98E09, 0xFB9D07, 0xFCAC11, 0xFBBC21, 0xF9CB35, 0xF5DB4C, 0xF2EA69, 0xF3F68A, 0xFCFFA4]
        }
    }
}
