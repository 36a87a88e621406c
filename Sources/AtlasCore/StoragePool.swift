import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// Most bytes kept at once: an eighth of physical memory, between 512 MiB and 4 GiB. A forward kept for backward
    /// (ViT-B/16's input gradient at batch 8 holds about 2 GB) frees nearly all it allocated before the next one
    /// allocates it again; a smaller pool left most of it to fault in anew on every gradient (ViT-B/16 b8: about
    /// a quarter of the gradient's time).
    static let capacityBytes: Int = {
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        return min(max(physical / 8, 512 << 20), 4 << 30)
    }()

    private struct Entry { let pointer: UnsafeMutableRawPointer; let bytes: Int }
    private struct State { var entries: [Entry] = []; var bytes = 0 }
    private static let state = Mutex(State())

    /// Buffers from this size up are placed on 2 MiB boundaries and marked for transparent huge pages: their first
    /// touch then faults one 2 MiB page instead of 512 small ones.
    static let hugePageBytes = 2 << 20

    /// A new buffer of `bytes` bytes, 64-byte aligned (2 MiB, huge-page backed where the kernel allows, from
    /// `hugePageBytes` up). Freed with `deallocate()` like any other.
    static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        #if os(Linux)
        if bytes >= hugePageBytes {
            var p: UnsafeMutableRawPointer? = nil
            if posix_memalign(&p, hugePageBytes, bytes) == 0, let p {
                let span = bytes / hugePageBytes * hugePageBytes
                _ = madvise(p, span, 14 /* MADV_HUGEPAGE */)
                return p
            }
        }
        #endif
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    /// Most a reused buffer may exceed the request by, as a fraction of it: a plan for a slightly smaller input
    /// (a render's final score runs on the untransformed image, 128² against the steps' 140²) then takes the buffers
    /// the steps freed instead of faulting in fresh memory for every value (MobileNetV3 b8: about two steps' time).
    static let slack = 4

    /// A kept buffer for `bytes` bytes and its actual size (64-byte aligned): one of exactly that size if kept, else
    /// the smallest kept one up to `bytes + bytes / slack`; nil when none fits.
    static func take(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, bytes: Int)? {
        guard bytes >= minimumBytes else { return nil }
        return state.withLock { s in
            var pick = s.entries.lastIndex(where: { $0.bytes == bytes })
            if pick == nil {
                let limit = bytes + bytes / slack
                for (i, e) in s.entries.enumerated() where e.bytes > bytes && e.bytes <= limit {
                    if let p = pick, s.entries[p].bytes <= e.bytes { continue }
                    pick = i
                }
            }
            guard let i = pick else { return nil }
            let e = s.entries.remove(at: i)
            s.bytes -= e.bytes
            return (e.pointer, e.bytes)
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
