import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's one way to run work on several cores.
///
/// Work is split into *chunks* whose boundaries depend only on the problem (never on the thread count);
/// workers pull chunk indices from a shared counter. A chunk always computes the same values whichever
/// thread runs it, so results are bit-identical at 1, 2 or N threads as long as callers reduce chunk
/// results in chunk order (see `mapChunks`). Nested calls run serially on the calling worker.
public enum Parallel {
    private static let configured = Mutex<Int>(Parallel.defaultThreadCount())

    /// Threads used by `forEach`. Defaults to `ATLAS_THREADS` or the number of active CPUs.
    public static var threadCount: Int {
        get { configured.withLock { $0 } }
        set { configured.withLock { $0 = max(1, newValue) } }
    }

    /// `ATLAS_THREADS` when set to a positive integer, else the active CPU count.
    public static func defaultThreadCount() -> Int {
        if let text = getenv("ATLAS_THREADS").map({ String(cString: $0) }), let n = Int(text), n > 0 { return n }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Marks the calling thread as a worker for good (`WorkerPool`'s threads): its nested calls run serially.
    static func markWorkerThread() { InsideWorker.isSet = true }

    /// Runs `body` with the calling thread marked as a worker (nested calls serial), then restores its mark.
    static func asWorker<T>(_ body: () -> T) -> T {
        let wasInside = InsideWorker.isSet
        InsideWorker.isSet = true
        defer { InsideWorker.isSet = wasInside }
        return body()
    }

    /// Whether the caller runs inside a `forEach` worker, where nested calls run serially.
    public static var isInsideWorker: Bool { InsideWorker.isSet }
    /// Number of CPUs the OS reports online.
    public static var cpuCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over `threadCount` threads.
    /// Returns when all calls have finished. `body` must only write to memory owned by its index.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        let threads = min(threadCount, count)
        if threads == 1 || InsideWorker.isSet {
            for i in 0..<count { body(i) }
            return
        }
        asWorker { WorkerPool.shared.run(count: count, helpers: threads - 1, body) }
    }

    /// Splits `0..<total` into chunks of `grain` (the last may be shorter) and runs `body` on each range in parallel.
    public static func forRanges(_ total: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let g = max(1, grain)
        let chunks = (total + g - 1) / g
        forEach(chunks) { c in body(c * g ..< min(total, (c + 1) * g)) }
    }

    /// Computes one value per chunk in parallel and returns them in chunk order, for fixed-order reductions.
    public static func mapChunks<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        var results = [T?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            forEach(count) { i in base[i] = body(i) }
        }
        return results.map { $0! }
    }

    /// Runs `body` with `threadCount` temporarily set to `threads`.
    public static func withThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        let saved = threadCount
        threadCount = threads
        defer { threadCount = saved }
        return try body()
    }
}

/// A per-thread flag marking Dispatch workers of `Parallel.forEach`, so nested calls stay serial.
private enum InsideWorker {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    static var isSet: Bool {
        get { pthread_getspecific(key) != nil }
        set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}
