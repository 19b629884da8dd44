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
        data = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
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
            data.deallocate()
            MemoryStats.freed(byteCount)
        }
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
