// SparseTensor: validation of user input, layout, per-item broadcasting, concatenation, and
// per-instance GroupNorm.
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeSparse

@Suite struct SparseTensorTests {
    private func make(_ c: [Int32], channels: Int = 2) throws -> SparseTensor {
        let n = c.count / 4
        return try SparseTensor(
            coords: Tensor(int32: c, shape: [n, 4]), feats: Tensor(zeros: [n, channels]))
    }

    @Test func badInputThrowsClearErrors() throws {
        // Coordinate outside the grid.
        #expect(throws: LatticeError.self) { try make([0, 0, 0, 1024]) }
        #expect(throws: LatticeError.self) { try make([0, -1, 0, 0]) }
        #expect(throws: LatticeError.self) {
            try SparseTensor(
                coords: Tensor(int32: [0, 0, 0, 16], shape: [1, 4]), feats: Tensor(zeros: [1, 2]),
                resolution: 16)
        }
        // Batch indices not ascending / negative.
        #expect(throws: LatticeError.self) { try make([1, 0, 0, 0, 0, 0, 0, 1]) }
        #expect(throws: LatticeError.self) { try make([-1, 0, 0, 0]) }
        // Duplicate site in one item (the same xyz in two items is fine).
        #expect(throws: LatticeError.self) { try make([0, 1, 2, 3, 0, 4, 4, 4, 0, 1, 2, 3]) }
        _ = try make([0, 1, 2, 3, 1, 1, 2, 3])
        // Shape mismatches.
        #expect(throws: LatticeError.self) {
            try SparseTensor(
                coords: Tensor(int32: [0, 1, 2], shape: [1, 3]), feats: Tensor(zeros: [1, 2]))
        }
        #expect(throws: LatticeError.self) {
            try SparseTensor(
                coords: Tensor(int32: [0, 1, 2, 3], shape: [1, 4]), feats: Tensor(zeros: [2, 2]))
        }
        do {
            _ = try make([0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0])
            Issue.record("duplicate accepted")
        } catch let e as LatticeError {
            #expect(e.message.contains("duplicate") && e.message.contains("rows 0 and 2"))
        }
    }

    @Test func layoutAndBroadcast() throws {
        let x = try make([0, 0, 0, 0, 0, 1, 0, 0, 2, 3, 3, 3], channels: 2)
        #expect(x.batchSize == 3)
        #expect(x.offsets == [0, 2, 2, 3])
        #expect(x.shape == [3, 2])
        let mod = Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])
        let y = (x + mod) * Tensor([2, 2, 2, 2, 2, 2], shape: [3, 2])
        #expect(y.feats.toFloats() == [2, 4, 2, 4, 10, 12])
        let z = SparseTensor.cat([x, y])
        #expect(z.feats.shape == [3, 4])
        // Modulation gradients sum over each item's rows.
        var g = RandomGenerator(seed: 3)
        let f = Tensor.randn([3, 2], generator: &g)
        gradCheck([f, Tensor.randn([3, 2], generator: &g)]) { t in
            (x.replacing(feats: t[0]) * t[1]).feats
        }
    }

    /// GroupNorm per batch item: each item normalised alone, equal to groupNorm of that item.
    /// Tolerance 1e-5: same float32 math on the same values.
    @Test func groupNormIsPerInstance() throws {
        var g = RandomGenerator(seed: 4)
        let x = try randomSparse(counts: [30, 0, 17], res: 5, channels: 8, generator: &g)
        let w = Tensor.randn([8], generator: &g)
        let b = Tensor.randn([8], generator: &g)
        let y = sparseGroupNorm(x, groups: 4, weight: w, bias: b).feats
        for item in [0, 2] {
            let r = x.layout(item)
            let part = x.feats.slice(0, r.lowerBound, r.upperBound)
            let ref = groupNorm(
                part.transpose(0, 1).unsqueeze(0).contiguous(), groups: 4, weight: w, bias: b
            ).squeeze(0).transpose(0, 1).contiguous().toFloats()
            #expect(
                maxAbsDiff(y.slice(0, r.lowerBound, r.upperBound).contiguous().toFloats(), ref)
                    < 1e-5)
        }
        gradCheck([x.feats.slice(0, 0, 12).contiguous(), w]) { t in
            let sub = try! SparseTensor(
                coords: x.coords.slice(0, 0, 12).contiguous(), feats: t[0])
            return sparseGroupNorm(sub, groups: 2, weight: t[1], bias: nil).feats
        }
    }
}
