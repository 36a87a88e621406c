import AtlasCore
import Foundation

/// Synthetic data sets and a minimal .npy reader for the AtlasMap tests.
enum MapTestData {
    /// `clusters` clusters of `perCluster` points in `dim`-D, each a random centre (scale 4) plus a random
    /// 4-D linear patch (scale 1.5) plus isotropic noise (0.3); rows interleaved by cluster. Labels returned.
    static func clustered(clusters: Int = 10, perCluster: Int = 200, dim: Int = 64, seed: UInt64 = 1) -> (Tensor, [Int]) {
        var rng = SplitMix64(seed: seed, stream: 11)
        let n = clusters * perCluster
        let centers = (0..<(clusters * dim)).map { _ in 4 * rng.nextNormal() }
        let patches = (0..<(clusters * dim * 4)).map { _ in 1.5 * rng.nextNormal() / 2 }
        let t = Tensor(zeros: [n, dim])
        var labels = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let c = i % clusters
            labels[i] = c
            let z = (0..<4).map { _ in rng.nextNormal() }
            for j in 0..<dim {
                var v = centers[c * dim + j] + 0.3 * rng.nextNormal()
                for q in 0..<4 { v += patches[(c * dim + j) * 4 + q] * z[q] }
                t.data[i * dim + j] = v
            }
        }
        return (t, labels)
    }

    enum NPYError: Error { case malformed(String) }

    /// Reads a little-endian float32, C-order, 2-D .npy file.
    static func readNPY(_ path: String) throws -> Tensor {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count > 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw NPYError.malformed("not an .npy file")
        }
        let major = bytes[6]
        let headerLength: Int, start: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        guard let header = String(bytes: bytes[start ..< start + headerLength], encoding: .ascii) else {
            throw NPYError.malformed("header")
        }
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw NPYError.malformed("need <f4, C order: \(header)")
        }
        let shape = header[open.upperBound ..< close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard shape.count == 2 else { throw NPYError.malformed("need a 2-D array, shape \(shape)") }
        let offset = start + headerLength
        guard bytes.count >= offset + shape[0] * shape[1] * 4 else { throw NPYError.malformed("truncated") }
        let t = Tensor(zeros: shape)
        bytes.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(t.data).copyMemory(from: raw.baseAddress! + offset, byteCount: t.count * 4)
        }
        return t
    }
}
