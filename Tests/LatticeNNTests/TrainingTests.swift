// End-to-end: the layers, losses, optimizers, clipping, schedule and EMA together fit a tiny
// problem, and the attention projections work on unbatched (sparse-style) token lists.
import LatticeTensor
import Testing

@testable import LatticeNN

@Suite struct TrainingTests {
    @Test func adamWFitsALinearMapWithScheduleClippingAndEMA() {
        var g = RandomGenerator(seed: 5)
        let model = MLP(2, hidden: 16, out: 1, activation: .silu)
        model.resetParameters(generator: &g)
        let x = Tensor.rand([64, 2], low: -1, high: 1, generator: &g)  // [N, 2]
        let xv = x.toFloats()
        // y = 2·x0 - x1 + 0.5
        let y = Tensor((0..<64).map { 2 * xv[2 * $0] - xv[2 * $0 + 1] + 0.5 }, shape: [64, 1])
        let params = model.trainableParameters()
        let opt = AdamW(params, learningRate: 0.05, weightDecay: 0)
        let schedule = CosineWarmupSchedule(rate: 0.05, warmupSteps: 10, totalSteps: 300)
        let ema = EMA(params, decay: 0.9)
        let initial = withNoGrad { Loss.mse(model(x), y).item }
        var last: Float = 0
        for step in 0..<300 {
            opt.learningRate = schedule.learningRate(at: step)
            opt.zeroGrad()
            let loss = Loss.mse(model(x), y)
            loss.backward()
            clipGradNorm(params, maxNorm: 1)
            opt.step()
            ema.update()
            last = loss.item
        }
        // A 2-16-1 SiLU MLP fits an affine map to well under 1% of the initial loss.
        #expect(last < initial * 1e-2, "loss \(initial) -> \(last)")
        ema.copyToParameters()
        let emaLoss = withNoGrad { Loss.mse(model(x), y).item }
        ema.restore()
        #expect(emaLoss < initial * 1e-1, "EMA weights lag but must also fit: \(emaLoss)")
        #expect(params.allSatisfy { $0.value.requiresGrad && $0.value.gradFn == nil })
    }

    @Test func attentionProjectionsOnUnbatchedTokens() {
        var g = RandomGenerator(seed: 9)
        let attn = MultiHeadAttention(dim: 8, heads: 2, qkNorm: .rmsL2)
        attn.resetParameters(generator: &g)
        let tokens = Tensor.randn([5, 8], generator: &g)  // [T, C], as sparse tensors hold them
        let (q, k, v) = attn.projectQKV(tokens)
        #expect(q.shape == [5, 2, 4] && k.shape == [5, 2, 4] && v.shape == [5, 2, 4])
        // Same result as the batched path on a batch of one.
        let batched = attn(tokens.unsqueeze(0)).squeeze(0)
        let o = scaledDotProductAttention(
            q.transpose(0, 1).unsqueeze(0), k.transpose(0, 1).unsqueeze(0),
            v.transpose(0, 1).unsqueeze(0)
        ).squeeze(0).transpose(0, 1)  // [T, H, D]
        // Identical operations in the same order: bit-equal up to kernel blocking (1e-6).
        #expect(maxAbsDiff(attn.projectOut(o).toFloats(), batched.toFloats()) < 1e-6)
    }
}
