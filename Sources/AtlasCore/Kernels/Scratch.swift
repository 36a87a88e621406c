#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread scratch memory for kernels (GEMM packing buffers, im2col columns).
///
/// Each thread owns a few numbered slots that grow to the largest size asked of them and are reused by
/// later calls on that thread, so hot paths never allocate. Different purposes that can be live at the
/// same time use different slots (`Scratch.Slot`). Buffers are 64-byte aligned and *not* zeroed.
public enum Scratch {
    /// Slots in use by the engine's kernels; one nesting level each.
    public enum Slot: Int, CaseIterable {
        /// Packed panel of A inside one GEMM task.
        case packA = 0
        /// Packed panel of B, owned by the thread that calls `sgemm`.
        case packB = 1
        /// im2col / col2im columns of a convolution chunk.
        case columns = 2
        /// Free for callers above the kernels (layers).
        case layer = 3
        /// Small per-thread rows of a kernel's data transform (Winograd strips).
        case transform = 4
        /// op(A) packed once per depth block for all the tasks of one GEMM, owned by the thread that calls `sgemm`.
        case sharedA = 5
    }

    /// Runs `body` with a buffer of at least `count` floats that belongs to this thread and `slot`.
    @inline(__always)
    public static func with<T>(_ slot: Slot, count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        let set = ScratchSet.current
        return try body(set.buffer(slot.rawValue, count: count))
    }
}

/// The scratch buffers of one thread, owned through a pthread key so they are freed when the thread exits.
final class ScratchSet {
    private var pointers = [UnsafeMutablePointer<Float>?](repeating: nil, count: Scratch.Slot.allCases.count)
    private var capacities = [Int](repeating: 0, count: Scratch.Slot.allCases.count)

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { raw in
            if let raw { Unmanaged<ScratchSet>.fromOpaque(raw).release() }
        }
        return k
    }()

    static var current: ScratchSet {
        if let raw = pthread_getspecific(key) { return Unmanaged<ScratchSet>.fromOpaque(raw).takeUnretainedValue() }
        let set = ScratchSet()
        pthread_setspecific(key, Unmanaged.passRetained(set).toOpaque())
        return set
    }

    func buffer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        if capacities[slot] >= count, let p = pointers[slot] { return p }
        pointers[slot]?.deallocate()
        // Round up so that slightly growing requests do not reallocate every time.
        let capacity = max(count, capacities[slot] * 3 / 2, 1024)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * MemoryLayout<Float>.stride, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: capacity)
        pointers[slot] = p
        capacities[slot] = capacity
        return p
    }

    deinit {
        for p in pointers { p?.deallocate() }
    }
}
