import Synchronization

/// Keeps a few large freed tensor buffers for reuse by the next allocation of the same size.
///
/// A forward pass allocates the same activation sizes every time; without reuse each large buffer is a fresh
/// `mmap` whose pages fault in on first touch (and are zeroed by the kernel) every pass. Buffers of at least
/// `minimumBytes` are kept, newest first, up to `capacityBytes` in all; older ones are released. Contents of a
/// reused buffer are stale: `TensorStorage` zero-fills it unless the caller asked for uninitialized memory.
enum StoragePool {
    /// Smallest buffer worth keeping: malloc's mmap threshold (`MemoryStats.returnLargeBlocksToSystem` fixes it at
    /// 128 KiB), below which malloc's own free lists reuse memory.
    static let minimumBytes = 128 << 10
    /// Most bytes kept at once.
    static let capacityBytes = 512 << 20

    private struct Entry { let pointer: UnsafeMutableRawPointer; let bytes: Int }
    private struct State { var entries: [Entry] = []; var bytes = 0 }
    private static let state = Mutex(State())

    /// A kept buffer of exactly `bytes` bytes (64-byte aligned), or nil.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= minimumBytes else { return nil }
        return state.withLock { s in
            guard let i = s.entries.lastIndex(where: { $0.bytes == bytes }) else { return nil }
            s.bytes -= bytes
            return s.entries.remove(at: i).pointer
        }
    }

    /// Keeps `pointer` (allocated with `bytes` bytes, 64-byte aligned) or frees it.
    static func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= minimumBytes, bytes <= capacityBytes else { pointer.deallocate(); return }
        let evicted: [Entry] = state.withLock { s in
            s.entries.append(Entry(pointer: pointer, bytes: bytes))
            s.bytes += bytes
            var out: [Entry] = []
            while s.bytes > capacityBytes {
                let e = s.entries.removeFirst()
                s.bytes -= e.bytes
                out.append(e)
            }
            return out
        }
        for e in evicted { e.pointer.deallocate() }
    }
}
