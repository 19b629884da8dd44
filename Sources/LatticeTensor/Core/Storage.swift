// Reference-counted raw memory behind tensors: owned (64-byte aligned) or borrowed from an owner
// such as a memory-mapped file that must stay alive while any view of it exists.
import Foundation
import Synchronization

/// A block of memory that tensors view. Owned blocks are 64-byte aligned for SIMD kernels.
public final class Storage: @unchecked Sendable {
    /// Start of the memory.
    public let data: UnsafeMutableRawPointer
    /// Size in bytes.
    public let byteCount: Int
    private let owned: Bool
    private let owner: AnyObject?

    /// Allocates `byteCount` bytes; contents are uninitialised unless `zeroed`.
    public init(byteCount: Int, zeroed: Bool = false) {
        let n = max(byteCount, 1)
        data =
            BufferCache.take(byteCount: n)
            ?? UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        if zeroed { data.initializeMemory(as: UInt8.self, repeating: 0, count: n) }
        self.byteCount = byteCount
        owned = true
        owner = nil
        MemoryStats.allocated(byteCount)
    }

    /// Wraps memory that `owner` keeps alive (e.g. a memory-mapped file). Never freed here.
    public init(borrowing data: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
        self.data = data
        self.byteCount = byteCount
        owned = false
        self.owner = owner
    }

    deinit {
        if owned {
            if !BufferCache.give(data, byteCount: max(byteCount, 1)) { data.deallocate() }
            MemoryStats.freed(byteCount)
        }
    }
}

/// Keeps recently freed large buffers for reuse. Large allocations otherwise come from fresh
/// mmaps whose pages fault in on first touch: a 64 MB activation then costs more to allocate than
/// to compute (GELU over 16M floats: 79 ms allocating vs 13 ms into an existing buffer). Buffers
/// are reused only for the exact same byte count (model forward passes repeat their shapes) and
/// the cache holds at most `limitBytes`.
enum BufferCache {
    /// Buffers smaller than this come from malloc's own free lists quickly enough.
    static let minimumBytes = 1 << 20
    /// Upper bound on idle cached memory.
    static let limitBytes = 512 << 20

    private struct State: @unchecked Sendable {
        var free: [Int: [UnsafeMutableRawPointer]] = [:]
        var cachedBytes = 0
        var order: [(Int, UnsafeMutableRawPointer)] = []  // oldest first, for eviction
    }
    private static let state = Mutex(State())

    static func take(byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= minimumBytes else { return nil }
        return state.withLock { s -> UnsafeMutableRawPointer? in
            guard var list = s.free[byteCount], let p = list.popLast() else { return nil }
            s.free[byteCount] = list.isEmpty ? nil : list
            s.cachedBytes -= byteCount
            if let i = s.order.firstIndex(where: { $0.1 == p }) { s.order.remove(at: i) }
            return p
        }
    }

    /// Returns false when the buffer was not kept (the caller frees it).
    static func give(_ p: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        guard byteCount >= minimumBytes, byteCount <= limitBytes else { return false }
        var evicted: [UnsafeMutableRawPointer] = []
        state.withLock { s in
            while s.cachedBytes + byteCount > limitBytes, !s.order.isEmpty {
                let (n, old) = s.order.removeFirst()
                s.free[n]?.removeAll { $0 == old }
                if s.free[n]?.isEmpty == true { s.free[n] = nil }
                s.cachedBytes -= n
                evicted.append(old)
            }
            s.free[byteCount, default: []].append(p)
            s.order.append((byteCount, p))
            s.cachedBytes += byteCount
        }
        for old in evicted { old.deallocate() }
        return true
    }
}

/// Live and peak bytes of tensor storage owned by Lattice (mapped files excluded). Benchmarks
/// read the peak to report a kernel's extra memory.
public enum MemoryStats {
    private static let live = Atomic<Int>(0)
    private static let peak = Atomic<Int>(0)

    static func allocated(_ n: Int) {
        let now = live.add(n, ordering: .relaxed).newValue
        var p = peak.load(ordering: .relaxed)
        while now > p {
            let (exchanged, original) = peak.compareExchange(
                expected: p, desired: now, ordering: .relaxed)
            if exchanged { break }
            p = original
        }
    }

    static func freed(_ n: Int) { live.subtract(n, ordering: .relaxed) }

    /// Bytes of storage alive now.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }
    /// Highest `liveBytes` since the last `resetPeak()`.
    public static var peakBytes: Int { peak.load(ordering: .relaxed) }
    /// Sets the peak to the current live bytes.
    public static func resetPeak() { peak.store(live.load(ordering: .relaxed), ordering: .relaxed) }
}
