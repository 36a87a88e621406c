import CKernels
import Synchronization

/// Live and peak bytes held by tensor storage, for `--stats` and benchmarks.
public enum MemoryStats {
    /// Makes the C allocator hand large freed blocks (≥ `bytes`) back to the system. By default glibc raises its
    /// mmap threshold after the first large free and keeps every freed activation buffer in the heap for good:
    /// `atlas run` over 2000 images held 235 MB instead of 47 MB. The tensor storage pool still recycles big buffers.
    @discardableResult
    public static func returnLargeBlocksToSystem(above bytes: Int = 128 * 1024) -> Bool {
        ck_malloc_set_mmap_threshold(bytes) == 1
    }

    private static let live = Atomic<Int>(0)
    private static let peakBytes = Atomic<Int>(0)

    static func allocated(_ bytes: Int) {
        let now = live.add(bytes, ordering: .relaxed).newValue
        var peak = peakBytes.load(ordering: .relaxed)
        while now > peak {
            let (exchanged, original) = peakBytes.compareExchange(expected: peak, desired: now, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
    }

    static func freed(_ bytes: Int) { live.subtract(bytes, ordering: .relaxed) }

    /// Bytes currently held by tensors.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }
    /// Highest `liveBytes` seen since start or the last `resetPeak()`.
    public static var peak: Int { peakBytes.load(ordering: .relaxed) }
    /// Starts a new peak measurement from the current live size.
    public static func resetPeak() { peakBytes.store(live.load(ordering: .relaxed), ordering: .relaxed) }
}
