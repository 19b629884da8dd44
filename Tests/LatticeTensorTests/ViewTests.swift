import Testing

@testable import LatticeTensor

@Suite struct ViewTests {
    @Test func permuteAndContiguousReorderElements() {
        let x = Tensor((0..<6).map(Float.init), shape: [2, 3])
        let t = x.transpose(0, 1)
        #expect(t.shape == [3, 2])
        #expect(!t.isContiguous)
        #expect(t.contiguous().toFloats() == [0, 3, 1, 4, 2, 5])
    }

    @Test func sliceWithStepIsAView() {
        let x = Tensor((0..<10).map(Float.init), shape: [10])
        let s = x.slice(0, 1, 9, step: 3)
        #expect(s.storage === x.storage)
        #expect(s.toFloats() == [1, 4, 7])
    }

    @Test func expandThenSumToRestoresShape() {
        let x = Tensor([1, 2, 3], shape: [3, 1])
        let e = x.expand([2, 3, 4])
        #expect(e.shape == [2, 3, 4])
        #expect(e.sumTo([3, 1]).toFloats() == [8, 16, 24])
    }

    @Test func halfConversionsRoundTrip() {
        let values: [Float] = [0, 1, -2.5, 65504, 1e-3, 3.140625]
        let x = Tensor(values, shape: [6])
        #expect(x.to(.float16).to(.float32).toFloats()[0..<4] == values[0..<4])
        // bf16 keeps 8 significant bits: 3.140625 is exact, 1e-3 rounds.
        #expect(x.to(.bfloat16).float().toFloats()[5] == 3.140625)
    }

    @Test func sliceBackwardScattersIntoZeros() {
        let x = Tensor((0..<5).map(Float.init), shape: [5]).requiringGrad()
        let y = x.slice(0, 1, 4)
        y.backward(Tensor([1, 2, 3], shape: [3]))
        #expect(x.grad?.toFloats() == [0, 1, 2, 3, 0])
    }
}
