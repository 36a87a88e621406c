/// The folder loader on a mixed folder: every good file loads (by extension or by content), every bad one
/// is listed with its reason, other files are ignored, order and batches do not depend on the thread count.
import AtlasCore
import AtlasImage
import Foundation
import XCTest

final class ImageLoaderTests: XCTestCase {
    func testMixedFolder() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let good: [(String, String)] = [
            ("a/good1.png", "png/rgb8.png"), ("b.jpg", "jpeg/baseline.jpg"), ("c/deep/d.png", "png/gray16.png"),
            ("e.dat", "png/palette4_trns.png"), ("F.JPG", "jpeg/orientation6.jpg"),
        ]
        let bad: [(String, String, ImageError.Kind)] = [
            ("bad1.png", "bad/truncated.png", .truncated), ("bad2.png", "bad/text.png", .notAnImage),
            ("bad3.jpg", "bad/empty.png", .empty), ("bad4.jpg", "bad/huge_sof.jpg", .tooLarge),
            ("z/bad5.png", "bad/corrupt.png", .corrupt),
        ]
        for (name, source) in good { try dir.write(name, try Fixtures.bytes(source)) }
        for (name, source, _) in bad { try dir.write(name, try Fixtures.bytes(source)) }
        try dir.write("notes.txt", Array("not an image".utf8))
        try dir.write(".hidden.png", try Fixtures.bytes("bad/text.png"))
        try FileManager.default.createDirectory(atPath: dir.file("x.png"), withIntermediateDirectories: false)
        let missing = dir.file("missing-input")

        let loader = ImageLoader(inputs: [dir.path, missing])
        let sorted = { (names: [String]) in names.map(dir.file).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        XCTAssertEqual(loader.files, sorted(good.map(\.0) + bad.map(\.0)))
        XCTAssertEqual(loader.inputProblems.map(\.path), [missing])

        func run(threads: Int) -> (batches: [ImageBatch], skipped: [SkippedFile]) {
            Parallel.withThreads(threads) {
                var batches: [ImageBatch] = []
                let skipped = loader.forEachBatch(size: 2, preprocessor: .centerCrop(8)) { batches.append($0) }
                return (batches, skipped)
            }
        }
        let (batches, skipped) = run(threads: 1)
        XCTAssertEqual(batches.map { $0.tensor.shape }, [[2, 3, 8, 8], [2, 3, 8, 8], [1, 3, 8, 8]])
        XCTAssertEqual(batches.flatMap(\.files), sorted(good.map(\.0)))
        // Each item equals preprocessing the file on its own.
        let first = try Preprocessor.centerCrop(8)(try ImageCodec.decode(file: batches[0].files[0], options: .rgb))
        XCTAssertEqual(Array(batches[0].tensor.toArray()[0..<first.count]), first.toArray())

        let expectedSkipped = bad.map { (dir.file($0.0), $0.2) }.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        XCTAssertEqual(skipped.count, bad.count + 1)
        XCTAssertEqual(skipped.first?.path, missing)
        XCTAssertEqual(skipped.first?.error.kind, .notFound)
        for (entry, (path, kind)) in zip(skipped.dropFirst(), expectedSkipped) {
            XCTAssertEqual(entry.path, path)
            XCTAssertEqual(entry.error.kind, kind, entry.description)
            XCTAssertEqual(entry.error.file, path)
            XCTAssertTrue(entry.description.hasPrefix(path))
        }

        let (batches4, skipped4) = run(threads: 4)
        XCTAssertEqual(batches4.map(\.files), batches.map(\.files))
        XCTAssertEqual(batches4.map { $0.tensor.toArray() }, batches.map { $0.tensor.toArray() })
        XCTAssertEqual(skipped4, skipped)

        // Raw images in chunks.
        var loaded: [LoadedImage] = []
        let skippedRaw = loader.forEachImages(chunk: 3) { loaded += $0 }
        XCTAssertEqual(loaded.map(\.path), sorted(good.map(\.0)))
        XCTAssertEqual(skippedRaw.map(\.path), skipped.map(\.path))
        XCTAssertTrue(loaded.allSatisfy { $0.image.channels == 3 })
    }

    func testExplicitFilesAreAlwaysTried() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.write("notes.txt", Array("hello".utf8))
        try dir.write("pic.bin", try Fixtures.bytes("png/rgb8.png"))
        let loader = ImageLoader(inputs: [dir.file("notes.txt"), dir.file("pic.bin"), dir.file("pic.bin")])
        XCTAssertEqual(loader.files, [dir.file("notes.txt"), dir.file("pic.bin")])
        var count = 0
        let skipped = loader.forEachBatch(size: 4, preprocessor: Preprocessor(geometry: .direct(width: 3, height: 3))) {
            count += $0.files.count
        }
        XCTAssertEqual(count, 1)
        XCTAssertEqual(skipped.map(\.error.kind), [.notAnImage])
    }
}
