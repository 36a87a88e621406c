/// Resume for the unit pictures (the slow part of `atlas units --diversity/--accentuate`): every rendered
/// diversity set and accentuated exemplar is kept in `units-parts/<layer>/pictures/` with a record naming its key,
/// the SHA-256 of everything its pixels depend on. A rerun (after a kill, or with more channels) copies a picture
/// whose key matches instead of rendering it again; any other key renders afresh. The PNGs are written before the
/// record, each atomically, so a killed write leaves no record that points at a partial file.
import AtlasOutput
import Foundation

/// Pictures (a diversity set, an accentuated exemplar) rendered by a run and kept from an earlier one.
public struct UnitPictureCounts: Sendable, Equatable {
    public var rendered = 0
    public var reused = 0
    mutating func count(_ kept: Bool) { if kept { reused += 1 } else { rendered += 1 } }
}

struct UnitPictureStore {
    /// What a stored picture depends on: the settings of its kind (the others neutral), the model's bytes, the
    /// layer value and channel, and for an accentuation the exemplar it starts from and how that image was brought
    /// to the network input.
    struct Key: Encodable {
        var kind: String
        var model: AtlasIndex.Model
        var value: String
        var channel: Int
        var inputChannels: Int
        var settings: UnitVisualsRecipe
        var exemplar: Exemplar?
    }

    struct Exemplar: Encodable {
        var image: String
        var x: Int
        var y: Int
        var input: [Int]
        var geometry: UnitsRecipe.Geometry
        var preprocess: String
    }

    struct Record<Picture: Codable>: Codable {
        var key: String
        var picture: Picture
    }

    let folder: OutputFolder
    let dir: String

    init(folder: OutputFolder, layerId: String) {
        self.folder = folder
        dir = "units-parts/\(layerId)/pictures"
    }

    static func diversityKey(_ v: UnitVisualsRecipe, recipe: UnitsRecipe, channel: Int) throws -> String {
        var settings = v
        settings.accentuateLayer = nil; settings.accentuateWeight = 0; settings.accentuateTransforms = .none
        return try CanonicalJSON.sha256(Key(kind: "diversity", model: recipe.model, value: recipe.value, channel: channel,
                                            inputChannels: recipe.input[0], settings: settings))
    }

    static func accentuationKey(_ v: UnitVisualsRecipe, recipe: UnitsRecipe, channel: Int, exemplar e: UnitsIndex.Exemplar) throws -> String {
        var settings = v
        settings.diversity = 0; settings.diversityWeight = 0
        return try CanonicalJSON.sha256(Key(kind: "accentuated", model: recipe.model, value: recipe.value, channel: channel,
                                            inputChannels: recipe.input[0], settings: settings,
                                            exemplar: Exemplar(image: e.image, x: e.x, y: e.y, input: recipe.input,
                                                               geometry: recipe.geometry, preprocess: recipe.preprocess)))
    }

    /// Picture `name` (`count` PNGs): the stored one when its record carries `key`, else the one `make` renders,
    /// stored before it is returned; `kept` tells which.
    func picture<P: Codable>(_ name: String, key: String, count: Int,
                             make: () throws -> (png: [[UInt8]], picture: P)) throws -> (png: [[UInt8]], picture: P, kept: Bool) {
        if let stored = load(name, key: key, count: count, as: P.self) { return (stored.png, stored.picture, true) }
        let made = try make()
        try save(name, key: key, png: made.png, picture: made.picture)
        return (made.png, made.picture, false)
    }

    /// The stored picture `name` (its PNGs `name-<k>.png`, `count` of them) when its record carries `key`.
    private func load<P: Codable>(_ name: String, key: String, count: Int, as: P.Type) -> (png: [[UInt8]], picture: P)? {
        guard let data = FileManager.default.contents(atPath: folder.file("\(dir)/\(name).json")),
              let record = try? JSONDecoder().decode(Record<P>.self, from: data), record.key == key else { return nil }
        var png: [[UInt8]] = []
        for k in 0..<count {
            guard let bytes = FileManager.default.contents(atPath: folder.file("\(dir)/\(name)-\(k).png")) else { return nil }
            png.append(Array(bytes))
        }
        return (png, record.picture)
    }

    /// Stores picture `name`: its PNGs, then the record.
    private func save<P: Codable>(_ name: String, key: String, png: [[UInt8]], picture: P) throws {
        for (k, bytes) in png.enumerated() { try UnitAssembly.write(bytes, "\(dir)/\(name)-\(k).png", folder) }
        try UnitAssembly.write(Array(try CanonicalJSON.encode(Record(key: key, picture: picture))), "\(dir)/\(name).json", folder)
    }
}
