import AtlasCore
import AtlasMap
import Foundation
import XCTest

/// A by-hand measurement, not a test: skipped unless ATLAS_UMAP_MEASURE names a float32 [N, D] .npy file.
/// Runs UMAP (cosine, n_neighbors 20, seed 42) at ATLAS_UMAP_THREADS (default 2) threads, prints stage times and
/// trustworthiness@10 on the first 5,000 rows, and writes the embedding to ATLAS_UMAP_OUT (.f32, raw) when set.
final class UMAPMeasurement: XCTestCase {
    func testMeasureUMAPOnFile() throws {
        guard let path = ProcessInfo.processInfo.environment["ATLAS_UMAP_MEASURE"] else {
            throw XCTSkip("set ATLAS_UMAP_MEASURE=/path/data.npy to measure")
        }
        let threads = Int(ProcessInfo.processInfo.environment["ATLAS_UMAP_THREADS"] ?? "") ?? 2
        let data = try MapTestData.readNPY(path)
        let n = data.shape[0]
        let umap = UMAP(nNeighbors: 20, metric: .cosine, seed: 42)
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        func cpu() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        try Parallel.withThreads(threads) {
            let c0 = cpu(), t0 = now()
            let table = try umap.neighborTable(data)
            let t1 = now(), c1 = cpu()
            let graph = UMAPGraph.fuzzySimplicialSet(indices: table.indices, distances: table.distances,
                                                     rows: n, k: table.k)
            let t2 = now()
            let emb = try umap.embed(graph, data: data)
            let t3 = now(), c3 = cpu()
            print(String(format: "UMAP %d×%d cosine k=20, %d threads: kNN %.2f s, graph %.2f s, layout %.2f s, total %.2f s",
                         n, data.shape[1], threads, t1 - t0, t2 - t1, t3 - t2, t3 - t0))
            print(String(format: "  CPU time (all threads): kNN %.2f s, graph + layout %.2f s, total %.2f s",
                         c1 - c0, c3 - c1, c3 - c0))
            if let out = ProcessInfo.processInfo.environment["ATLAS_UMAP_OUT"] {
                try Data(bytes: emb.data, count: emb.count * 4).write(to: URL(fileURLWithPath: out))
            }
            let m = min(n, 5000)
            let sub = data.slice(batch: 0..<m), subEmb = emb.slice(batch: 0..<m)
            let tw = try Trustworthiness.score(original: sub, embedded: subEmb, k: 10, metric: .cosine)
            print(String(format: "trustworthiness@10 (cosine, first %d rows) = %.4f", m, tw))
            let nnd = try NNDescent(nNeighbors: 19, metric: .cosine, seed: 42).build(sub)
            print("(reference: NN-descent recall on the subsample alone = \(try nnd.recall(against: ExactKNN.build(sub, k: 19, metric: .cosine))))")
        }
    }
}
