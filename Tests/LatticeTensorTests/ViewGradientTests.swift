// Finite-difference checks of the movement ops' backward rules (views are the glue of every
// model, and a wrong inverse permutation or slice offset silently corrupts gradients).
import LatticeTestSupport
import Testing

@testable import LatticeTensor

@Suite struct ViewGradientTests {
    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return Tensor.randn(shape, generator: &g)
    }

    @Test func reshapeAndFlatten() {
        gradCheck([random([2, 3, 4], seed: 1)]) { $0[0].reshape([4, -1]) }
        gradCheck([random([2, 3, 4], seed: 2)]) { $0[0].flatten(from: 1) }
        // reshape of a non-contiguous view goes through a copy
        gradCheck([random([3, 4], seed: 3)]) { $0[0].transpose(0, 1).reshape([12]) }
    }

    @Test func permuteTransposeContiguous() {
        gradCheck([random([2, 3, 4], seed: 4)]) { $0[0].permute([2, 0, 1]).contiguous() }
        gradCheck([random([2, 3, 4], seed: 5)]) { $0[0].transpose(-1, 0) }
    }

    @Test func sliceAndSelect() {
        gradCheck([random([5, 6], seed: 6)]) { $0[0].slice(1, 1, 6, step: 2) }
        gradCheck([random([5, 6], seed: 7)]) { $0[0].slice(0, -3).select(1, -1) }
    }

    @Test func expandSqueezeUnsqueeze() {
        gradCheck([random([3, 1], seed: 8)]) { $0[0].expand([2, 3, 4]) }
        gradCheck([random([3, 1, 2], seed: 9)]) { $0[0].squeeze(1).unsqueeze(0).unsqueeze(-1) }
        gradCheck([random([2, 3, 4], seed: 10)]) { $0[0].sumTo([3, 1]) }
    }

    @Test func dtypeRoundTripPassesGradient() {
        // f32 -> f16 -> f32 rounds values; the gradient of a cast is the identity, so use inputs
        // exactly representable in f16 (small integers) to keep finite differences exact.
        let x = Tensor([1, -2, 3, 4, -5, 6], shape: [2, 3])
        gradCheck([x], h: 0.5) { $0[0].to(.float16).to(.float32) }
    }

    @Test func checkpointMatchesDirectGradient() {
        let x = random([4, 3], seed: 11).requiringGrad()
        let direct = x.transpose(0, 1).slice(0, 1)
        direct.backward(Tensor(full: direct.shape, value: 1))
        let expected = x.grad!.toFloats()
        x.grad = nil
        let viaCheckpoint = checkpoint([x]) { $0[0].transpose(0, 1).slice(0, 1).contiguous() }
        viaCheckpoint.backward(Tensor(full: viaCheckpoint.shape, value: 1))
        #expect(x.grad!.toFloats() == expected)
    }

    @Test func gradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        x.reshape([3, 1]).backward(Tensor([1, 1, 1], shape: [3, 1]))
        x.reshape([1, 3]).backward(Tensor([1, 2, 3], shape: [1, 3]))
        #expect(x.grad!.toFloats() == [2, 3, 4])
    }

    @Test func noGradRecordsNothing() {
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        let y = withNoGrad { x.reshape([2, 1]) }
        #expect(!y.requiresGrad && y.gradFn == nil)
    }
}
