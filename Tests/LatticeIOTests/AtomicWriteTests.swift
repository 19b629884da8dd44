// Tests for atomic writes.
import Foundation
import LatticeIO
import LatticeTensor
import Testing

@Suite struct AtomicWriteTests {
    @Test func replacesExistingFileAndLeavesNoTemporary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.bin")
        try writeAtomically(Data([1, 2, 3]), to: url)
        try writeAtomically(Data([4, 5]), to: url)
        #expect(try Data(contentsOf: url) == Data([4, 5]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.bin"])
    }
}
