import Synchronization

/// Float32 tensors in NCHW layout (batch first), backed by explicit, 64-byte aligned storage.
///
/// A `Tensor` is a shape plus a window (`offset`, `count`) into a shared `TensorStorage`. Copying a `Tensor`
/// value never copies data: views (reshape, batch slices) share storage, and writes through `data` are
/// visible to every view. Kernels take `data` once and run on raw pointers, so there is no ARC or
/// copy-on-write traffic inside hot loops.

/// Owned, aligned Float32 memory, zero-initialised unless asked otherwise.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int
    /// Bytes of the buffer behind `pointer`: `capacity` floats, or more for a reused pool buffer.
    private let bytes: Int
    /// What the layer that wrote this storage noted for its backward (`RecordsForBackward`): set once by that layer
    /// before the tensor is handed on, read by its backward, dropped with the storage.
    public var note: AnyObject?
    /// GEMM packings of constants held here (a convolution's weights), by the window and grouping they pack: made
    /// once and shared by every layer built over the same constant, in every plan, as long as the storage lives.
    private let packings = Mutex<[PackedWeights.Window: PackedWeights]>([:])

    /// The packings of the weights in `window` (created empty on first use). Only for contents that never change.
    public func packedWeights(_ window: PackedWeights.Window) -> PackedWeights {
        packings.withLock { cache in
            if let p = cache[window] { return p }
            let p = PackedWeights()
            cache[window] = p
            return p
        }
    }

    /// Bytes above which zero-filling is spread over `Parallel` threads (so are the first-touch page faults).
    static let parallelFillBytes = 1 << 20

    /// `zeroed: false` leaves the contents undefined: only for callers that write every element before reading.
    public init(capacity: Int, zeroed: Bool = true) {
        self.capacity = capacity
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride
        let reused = StoragePool.take(bytes)
        let raw = reused?.pointer ?? StoragePool.allocate(bytes)
        self.bytes = reused?.bytes ?? bytes
        if zeroed {
            if bytes >= TensorStorage.parallelFillBytes {
                let chunk = 1 << 18
                Parallel.forRanges(bytes, grain: chunk) { r in
                    (raw + r.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: r.count)
                }
            } else {
                raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            }
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
        MemoryStats.allocated(self.bytes)
    }

    deinit {
        MemoryStats.freed(bytes)
        StoragePool.give(UnsafeMutableRawPointer(pointer), bytes: bytes)
    }
}

public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    /// Dimensions, outermost first (N, C, H, W for images).
    public private(set) var shape: [Int]
    public let storage: TensorStorage
    /// Offset of element 0 inside `storage`.
    public let offset: Int

    /// A new zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(capacity: Tensor.elementCount(shape))
        self.offset = 0
    }

    /// A new tensor whose contents are undefined, for kernels that write every element before anything reads
    /// it (saves the zero-fill; the writers' threads take the first-touch page faults).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(capacity: Tensor.elementCount(shape), zeroed: false)
        self.offset = 0
    }

    /// A shape without data, for a value a layer's `backward` does not read (see `Layer.backwardReads`);
    /// reading its elements is a bug.
    public init(placeholder shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(capacity: 0, zeroed: false)
        self.offset = 0
    }

    /// A new tensor holding `values` (row-major, count must match the shape).
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == Tensor.elementCount(shape), "Tensor: \(values.count) values for shape \(shape)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.update(from: base, count: values.count) }
        }
    }

    /// A tensor filled with one value.
    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        if value != 0 { data.update(repeating: value, count: count) }
    }

    /// A scalar (rank-0) tensor.
    public init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    /// A view onto existing storage.
    public init(shape: [Int], storage: TensorStorage, offset: Int = 0) {
        precondition(offset >= 0 && offset + Tensor.elementCount(shape) <= max(storage.capacity, 1),
                     "Tensor view out of bounds")
        self.shape = shape
        self.storage = storage
        self.offset = offset
    }

    /// Product of the dimensions (1 for a scalar).
    @inlinable public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Number of elements.
    public var count: Int { Tensor.elementCount(shape) }
    public var rank: Int { shape.count }
    /// Pointer to element 0. Valid while this tensor (or another view of its storage) is alive.
    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Same data under another shape with the same element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(newShape) == count, "reshape \(shape) -> \(newShape): element count differs")
        return Tensor(shape: newShape, storage: storage, offset: offset)
    }

    /// Items `range` of the outermost dimension, as a view (no copy).
    public func slice(batch range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0], "batch slice out of range")
        let inner = count / max(shape[0], 1)
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, storage: storage, offset: offset + range.lowerBound * inner)
    }

    /// A deep copy with its own storage.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Elements as an array (row-major).
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Element at a multi-index (slow; for tests and small tools).
    public subscript(_ index: Int...) -> Float {
        get { data[flatIndex(index)] }
        nonmutating set { data[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of bounds for \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public var description: String {
        let head = toArray().prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

/// Row-major strides of a shape.
@inlinable public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = acc
        acc *= shape[i]
    }
    return strides
}
