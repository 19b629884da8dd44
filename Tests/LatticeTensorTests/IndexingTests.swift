// Structural ops: known values (PyTorch semantics) and finite-difference gradients for cat,
// stack, split, chunk, gather, indexSelect, scatterAdd, scatterMean; argsort and unique.
// Values here are small integers or exact sums, so equality checks are exact.
import LatticeTestSupport
import Testing

@testable import LatticeTensor

@Suite struct IndexingTests {
    @Test func catAndStackKnownValues() {
        let a = Tensor([0, 1, 2, 3, 4, 5], shape: [2, 3])
        let b = Tensor([6, 7], shape: [2, 1])
        #expect(Tensor.cat([a, b], axis: 1).toFloats() == [0, 1, 2, 6, 3, 4, 5, 7])
        // A transposed (non-contiguous) input.
        let t = Tensor([0, 1, 2, 3], shape: [2, 2]).transpose(0, 1)  // [[0, 2], [1, 3]]
        #expect(Tensor.cat([t, a.slice(1, 0, 2)], axis: 0).toFloats() == [0, 2, 1, 3, 0, 1, 3, 4])
        let s = Tensor.stack([Tensor([1, 2], shape: [2]), Tensor([3, 4], shape: [2])], axis: 1)
        #expect(s.shape == [2, 2])
        #expect(s.toFloats() == [1, 3, 2, 4])
        let ints = Tensor.cat(
            [Tensor(int32: [1, 2], shape: [2]), Tensor(int32: [3], shape: [1])], axis: 0)
        #expect(ints.dtype == .int32 && ints.toInts() == [1, 2, 3])
    }

    @Test func catStackGradients() {
        var gen = RandomGenerator(seed: 1)
        let a = Tensor.randn([2, 3, 2], generator: &gen)
        let b = Tensor.randn([2, 1, 2], generator: &gen)
        let c = Tensor.randn([2, 2, 3], generator: &gen)
        gradCheck([a, b, c]) { v in Tensor.cat([v[0], v[1], v[2].transpose(1, 2)], axis: -2) }
        gradCheck([a, a]) { v in Tensor.stack([v[0], v[1].permute([0, 1, 2])], axis: 3) }
    }

    @Test func splitAndChunkFollowTorchSizes() {
        let x = Tensor((0..<14).map(Float.init), shape: [7, 2])
        #expect(x.chunk(3, axis: 0).map { $0.shape[0] } == [3, 3, 1])
        #expect(Tensor(zeros: [6]).chunk(4, axis: 0).map { $0.shape[0] } == [2, 2, 2])
        #expect(Tensor(zeros: [2]).chunk(5, axis: 0).map { $0.shape[0] } == [1, 1])
        let parts = x.split(sizes: [1, 4, 2], axis: 0)
        #expect(parts.map(\.shape) == [[1, 2], [4, 2], [2, 2]])
        #expect(parts[2].toFloats() == [10, 11, 12, 13])
        var gen = RandomGenerator(seed: 2)
        gradCheck([Tensor.randn([3, 5], generator: &gen)]) { v in
            let p = v[0].chunk(2, axis: 1)
            return Tensor.cat([p[1], p[0]], axis: 1)
        }
    }

    @Test func gatherKnownValuesAndGradient() {
        // torch.gather(t, 1, [[0, 0], [1, 0]]) on [[1, 2], [3, 4]] -> [[1, 1], [4, 3]].
        let t = Tensor([1, 2, 3, 4], shape: [2, 2])
        let idx = Tensor(int64: [0, 0, 1, 0], shape: [2, 2])
        #expect(t.gather(axis: 1, index: idx).toFloats() == [1, 1, 4, 3])
        // Index smaller than the input off-axis, int32 indices, axis 0.
        let x = Tensor((0..<12).map(Float.init), shape: [3, 4])
        let i0 = Tensor(int32: [2, 0, 1], shape: [1, 3])
        #expect(x.gather(axis: 0, index: i0).toFloats() == [8, 1, 6])
        var gen = RandomGenerator(seed: 3)
        let src = Tensor.randn([4, 3], generator: &gen)
        let rep = Tensor(int64: [0, 0, 2, 3, 3, 3, 1, 0], shape: [4, 2])
        gradCheck([src]) { v in
            v[0].transpose(0, 1).gather(
                axis: 1, index: rep.transpose(0, 1).contiguous().slice(0, 0, 2))
        }
    }

    @Test func indexSelectKnownValuesAndGradient() {
        let x = Tensor((0..<6).map(Float.init), shape: [3, 2])
        #expect(
            x.indexSelect(axis: 0, index: Tensor(int32: [2, 0, 2], shape: [3])).toFloats() == [
                4, 5, 0, 1, 4, 5,
            ])
        #expect(
            x.indexSelect(axis: 1, index: Tensor(int64: [1], shape: [1])).toFloats() == [1, 3, 5])
        let coords = Tensor(int32: [10, 11, 20, 21, 30, 31], shape: [3, 2])
        #expect(
            coords.indexSelect(axis: 0, index: Tensor(int64: [1, 1], shape: [2])).toInts() == [
                20, 21, 20, 21,
            ])
        var gen = RandomGenerator(seed: 4)
        let y = Tensor.randn([2, 4, 3], generator: &gen)
        let rep = Tensor(int64: [3, 0, 3, 1, 3], shape: [5])
        gradCheck([y]) { v in v[0].permute([1, 0, 2]).indexSelect(axis: 0, index: rep) }
        gradCheck([y]) { v in v[0].indexSelect(axis: -1, index: Tensor(int32: [2, 2], shape: [2])) }
    }

    @Test func scatterAddKnownValuesAndGradient() {
        // torch: zeros(3).scatter_add(0, [0, 1, 0, 2, 0], [1, 2, 3, 4, 5]) -> [9, 2, 4].
        let base = Tensor(zeros: [3])
        let idx = Tensor(int64: [0, 1, 0, 2, 0], shape: [5])
        let src = Tensor([1, 2, 3, 4, 5], shape: [5])
        #expect(base.scatterAdd(axis: 0, index: idx, source: src).toFloats() == [9, 2, 4])
        // 2-D with a non-zero base and index smaller than source.
        let b2 = Tensor([1, 1, 1, 1, 1, 1], shape: [2, 3])
        let i2 = Tensor(int32: [2, 0], shape: [1, 2])
        let s2 = Tensor([5, 6, 7, 8], shape: [2, 2])
        #expect(b2.scatterAdd(axis: 1, index: i2, source: s2).toFloats() == [7, 1, 6, 1, 1, 1])
        // 1-D index broadcast over channels (torch_scatter): rows of [4, 2] into [3, 2].
        let rows = Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [4, 2])
        let target = Tensor(int64: [2, 0, 2, 2], shape: [4])
        let summed = Tensor(zeros: [3, 2]).scatterAdd(axis: 0, index: target, source: rows)
        #expect(summed.toFloats() == [3, 4, 0, 0, 13, 16])

        var gen = RandomGenerator(seed: 5)
        let gb = Tensor.randn([3, 4], generator: &gen)
        let gs = Tensor.randn([4, 3], generator: &gen)
        let gi = Tensor(int64: [1, 2, 1, 0, 0, 2], shape: [2, 3])
        gradCheck([gb, gs]) { v in
            v[0].scatterAdd(
                axis: 0, index: gi, source: v[1].transpose(0, 1).contiguous().transpose(0, 1))
        }
        gradCheck([gb.slice(0, 0, 3), Tensor.randn([5, 4], generator: &gen)]) { v in
            v[0].scatterAdd(
                axis: 0, index: Tensor(int32: [2, 2, 0, 1, 2], shape: [5]), source: v[1])
        }
    }

    @Test func scatterMeanAveragesAndLeavesEmptyTargetsZero() {
        let rows = Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [4, 2])
        let target = Tensor(int64: [2, 0, 2, 2], shape: [4])
        let mean = Tensor(zeros: [4, 2]).scatterMean(axis: 0, index: target, source: rows)
        // Target 2 averages rows 0, 2, 3: (1+5+7)/3, (2+6+8)/3; targets 1 and 3 stay 0.
        #expect(mean.toFloats() == [3, 4, 0, 0, 13.0 / 3, 16.0 / 3, 0, 0])
        var gen = RandomGenerator(seed: 6)
        gradCheck([Tensor(zeros: [3, 2]), Tensor.randn([5, 2], generator: &gen)]) { v in
            v[0].scatterMean(
                axis: 0, index: Tensor(int64: [0, 2, 2, 0, 2], shape: [5]), source: v[1])
        }
        gradCheck([Tensor.randn([2, 3], generator: &gen), Tensor.randn([2, 4], generator: &gen)]) {
            v in
            v[0].scatterMean(
                axis: 1, index: Tensor(int64: [1, 1, 0, 1, 2, 2, 2, 2], shape: [2, 4]), source: v[1]
            )
        }
    }

    @Test func argsortIsStable() {
        let x = Tensor(int64: [3, 1, 2, 1, 3], shape: [5])
        #expect(x.argsort(axis: 0).toInts() == [1, 3, 2, 0, 4])
        #expect(x.argsort(axis: 0, descending: true).toInts() == [0, 4, 2, 1, 3])
        let f = Tensor([0.5, -1, 0.5, 2, 9, 1], shape: [3, 2])
        #expect(f.argsort(axis: 0).toInts() == [0, 0, 1, 2, 2, 1])
        #expect(f.argsort(axis: 1).dtype == .int64)
        #expect(Tensor(int32: [5, 4, 5], shape: [3]).argsort().toInts() == [1, 0, 2])
        let nan = Tensor([2, .nan, 1, .nan], shape: [4])
        #expect(nan.argsort().toInts() == [2, 0, 1, 3])
        #expect(nan.argsort(descending: true).toInts() == [1, 3, 0, 2])
    }

    @Test func uniqueReturnsValuesInverseCounts() {
        for keys in [
            Tensor(int64: [3, 1, 3, 2, 1, 3], shape: [6]),
            Tensor(int32: [3, 1, 3, 2, 1, 3], shape: [6]),
        ] {
            let (values, inverse, counts) = keys.unique(
                sorted: true, returnInverse: true, returnCounts: true)
            #expect(values.dtype == keys.dtype)
            #expect(values.toInts() == [1, 2, 3])
            #expect(inverse?.dtype == .int64 && inverse?.toInts() == [2, 0, 2, 1, 0, 2])
            #expect(counts?.dtype == .int64 && counts?.toInts() == [2, 1, 3])
        }
        let (v, inv, cnt) = Tensor(int64: [7], shape: [1]).unique()
        #expect(v.toInts() == [7] && inv == nil && cnt == nil)
    }
}
