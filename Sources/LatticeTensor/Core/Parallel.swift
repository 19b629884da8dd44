// Work splitting over the CPU's cores. Chunking depends only on the work size and the thread
// count, so results are bit-identical for the same thread count.
import CLatticeKernels
import Dispatch
import Foundation

/// Process-wide threading settings and parallel loops.
public enum Parallel {
    nonisolated(unsafe) private static var _threadCount: Int =
        ProcessInfo.processInfo.environment["LATTICE_THREADS"].flatMap { Int($0) }
        ?? ProcessInfo.processInfo.activeProcessorCount

    /// Number of worker threads kernels may use (default: all cores, or `LATTICE_THREADS`).
    public static var threadCount: Int {
        get { _threadCount }
        set { _threadCount = max(1, newValue) }
    }

    /// Runs `body(chunkIndex)` for `0..<chunks` on up to `threadCount` threads.
    @inlinable
    public static func run(chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 0 { return }
        if chunks == 1 || threadCount == 1 {
            for i in 0..<chunks { body(i) }
            return
        }
        // Kernels hand their workers raw pointers into disjoint ranges; the data race freedom
        // is by construction of the chunking, which the compiler cannot see.
        withoutActuallyEscaping(body) { b in
            let box = UncheckedSendable(b)
            let forced = lt_cpu_forced_level()
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                if forced < 0 {
                    box.value(i)
                } else {
                    let previous = lt_cpu_forced_level()
                    lt_cpu_force_level(forced)
                    box.value(i)
                    lt_cpu_force_level(previous)
                }
            }
        }
    }

    /// Splits `0..<count` into at most `threadCount` contiguous ranges of at least `grain`
    /// elements and runs `body` on each range in parallel.
    @inlinable
    public static func forRange(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let parts = max(1, min(threadCount, count / max(grain, 1)))
        if parts == 1 {
            body(0..<count)
            return
        }
        let step = (count + parts - 1) / parts
        run(chunks: parts) { p in
            let lo = p * step
            let hi = min(count, lo + step)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Wraps a value the caller guarantees is used race-free across threads.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}
