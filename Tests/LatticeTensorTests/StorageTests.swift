// The large-buffer cache behind Storage: reuse must never leak old contents into zeroed tensors
// or hand one buffer to two live tensors.
import Testing

@testable import LatticeTensor

@Suite struct StorageTests {
    @Test func freedLargeBufferIsReusedAndZeroedOnRequest() {
        let n = (BufferCache.minimumBytes / 4) + 17  // floats, above the cache threshold
        do { _ = Tensor(full: [n], value: 7) }  // freed into the cache
        // Same byte count: the cache usually hands back the buffer just freed (another test may
        // take it first, so only the contents are asserted).
        let b = Tensor(zeros: [n])
        #expect(b.toFloats().allSatisfy { $0 == 0 })
    }

    @Test func liveTensorsNeverShareACachedBuffer() {
        let n = BufferCache.minimumBytes / 4
        let a = Tensor(full: [n], value: 1)
        let b = Tensor(full: [n], value: 2)
        #expect(a.storage.data != b.storage.data)
        #expect(a.toFloats()[n - 1] == 1 && b.toFloats()[0] == 2)
    }
}
