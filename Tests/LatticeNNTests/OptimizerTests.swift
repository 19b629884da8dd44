// Optimizer steps against hand-computed PyTorch-equivalent values, exact resume from exported
// state, gradient clipping, EMA and learning-rate schedules.
// Tolerance: values are O(1) and each step is a handful of float32 operations (ulp ~6e-8),
// so 1e-6 absolute separates a correct update from any formula slip (>= 1e-3 here).
import Foundation
import LatticeTensor
import Testing

@testable import LatticeNN

private func param(_ v: [Float]) -> Parameter { Parameter(Tensor(v, shape: [v.count])) }

private func setGrad(_ p: Parameter, _ g: [Float]) {
    p.value.grad = Tensor(g, shape: [g.count])
}

/// PyTorch Adam/AdamW on one scalar, written out in float64 from the paper's formulas.
private func referenceAdam(
    p0: Double, grads: [Double], lr: Double, beta1: Double = 0.9, beta2: Double = 0.999,
    eps: Double = 1e-8, weightDecay: Double, decoupled: Bool
) -> [Double] {
    var (p, m, v) = (p0, 0.0, 0.0)
    var out: [Double] = []
    for (i, g0) in grads.enumerated() {
        let t = Double(i + 1)
        var g = g0
        if decoupled { p *= 1 - lr * weightDecay } else { g += weightDecay * p }
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        let mHat = m / (1 - Foundation.pow(beta1, t))
        let vHat = v / (1 - Foundation.pow(beta2, t))
        p -= lr * mHat / (vHat.squareRoot() + eps)
        out.append(p)
    }
    return out
}

@Suite struct OptimizerTests {
    @Test func adamWTwoStepsConstantGradientMatchesKnownValues() {
        // With a constant gradient Adam's bias-corrected step is lr·(1 - ~2e-8), so the values
        // follow by hand: p ← p·(1 - lr·wd) - lr·sign(g).
        let p = param([1, -2])
        let opt = AdamW([p], learningRate: 0.1, weightDecay: 0.01)
        setGrad(p, [0.5, -0.1])
        opt.step()
        #expect(maxAbsDiff(p.value.toFloats(), [0.899, -1.898] as [Double]) < 1e-6)
        opt.step()  // the gradient is kept across step(), as in PyTorch
        #expect(maxAbsDiff(p.value.toFloats(), [0.798101, -1.796102] as [Double]) < 1e-6)
        #expect(p.value.requiresGrad && p.value.gradFn == nil)
    }

    @Test func adamWAndAdamFollowTheReferenceOnVaryingGradients() {
        let grads: [[Float]] = [[0.5, -0.1, 0], [-0.3, 0.2, 1e-3], [0.05, 0.7, -2]]
        for decoupled in [true, false] {
            let p = param([1, -2, 0.25])
            let opt: Optimizer =
                decoupled
                ? AdamW([p], learningRate: 0.01, weightDecay: 0.1)
                : Adam([p], learningRate: 0.01, weightDecay: 0.1)
            for g in grads {
                setGrad(p, g)
                opt.step()
            }
            let expected = [1, -2, 0.25].enumerated().map { j, p0 in
                referenceAdam(
                    p0: p0, grads: grads.map { Double($0[j]) }, lr: 0.01, weightDecay: 0.1,
                    decoupled: decoupled
                ).last!
            }
            #expect(maxAbsDiff(p.value.toFloats(), expected) < 1e-6, "decoupled \(decoupled)")
        }
    }

    @Test func sgdNesterovWithWeightDecayTwoSteps() {
        // Hand-computed: d = g + wd·p; buf = d (first) then 0.9·buf + d; u = d + 0.9·buf.
        let p = param([1, -1])
        let opt = SGD([p], learningRate: 0.1, momentum: 0.9, weightDecay: 0.1, nesterov: true)
        setGrad(p, [0.5, 2])
        opt.step()
        #expect(maxAbsDiff(p.value.toFloats(), [0.886, -1.361] as [Double]) < 1e-6)
        setGrad(p, [-1, 1])
        opt.step()
        #expect(maxAbsDiff(p.value.toFloats(), [1.010566, -1.679041] as [Double]) < 1e-6)
    }

    @Test func sgdPlainAndDampenedMomentum() {
        let p = param([2])
        let opt = SGD([p], learningRate: 0.5, momentum: 0.5, dampening: 0.5)
        setGrad(p, [1])
        opt.step()  // buf = 1 (no dampening on the first step): p = 1.5
        opt.step()  // buf = 0.5 + 0.5·1 = 1: p = 1.0
        #expect(maxAbsDiff(p.value.toFloats(), [1.0] as [Double]) < 1e-6)
        let q = param([2])
        SGD([q], learningRate: 0.5).stepWith(grad: [4])
        #expect(q.value.toFloats() == [0])
    }

    @Test func parametersWithoutGradientsAreSkipped() {
        let (a, b) = (param([1]), param([1]))
        let opt = AdamW([a, b], learningRate: 0.1)
        setGrad(a, [1])
        opt.step()
        #expect(b.value.toFloats() == [1])
        #expect(opt.stateDict()["param.1.exp_avg"] == nil)
        opt.zeroGrad()
        #expect(a.value.grad == nil)
    }

    @Test func exportedStateResumesBitExactly() throws {
        let grads: [[Float]] = [[0.5, -0.1], [-0.3, 0.2], [0.05, 0.7]]
        let straight = param([1, -2])
        let optA = AdamW([straight], learningRate: 0.01)
        for g in grads {
            setGrad(straight, g)
            optA.step()
        }
        let resumed = param([1, -2])
        let optB = AdamW([resumed], learningRate: 0.01)
        for g in grads.prefix(2) {
            setGrad(resumed, g)
            optB.step()
        }
        let saved = optB.stateDict()
        #expect(Set(saved.keys) == ["param.0.exp_avg", "param.0.exp_avg_sq", "param.0.step"])
        let optC = AdamW([resumed], learningRate: 0.01)
        try optC.loadStateDict(saved)
        setGrad(resumed, grads[2])
        optC.step()
        #expect(resumed.value.toFloats() == straight.value.toFloats())

        let bad = ["param.0.exp_avg": Tensor(zeros: [3])]
        #expect(throws: LatticeError.self) { try AdamW([resumed]).loadStateDict(bad) }
        #expect(throws: LatticeError.self) {
            try AdamW([resumed]).loadStateDict(["param.7.exp_avg": Tensor(zeros: [2])])
        }
    }

    @Test func sgdMomentumStateRoundTrips() throws {
        let a = param([1, 2])
        let optA = SGD([a], learningRate: 0.1, momentum: 0.9)
        let b = param([1, 2])
        let optB = SGD([b], learningRate: 0.1, momentum: 0.9)
        setGrad(a, [1, -1])
        setGrad(b, [1, -1])
        optA.step()
        optB.step()
        let optC = SGD([b], learningRate: 0.1, momentum: 0.9)
        try optC.loadStateDict(optB.stateDict())
        optA.step()
        optC.step()
        #expect(a.value.toFloats() == b.value.toFloats())
    }

    @Test func clipGradNormScalesToMaxNormAndReturnsTotal() {
        let (a, b, c) = (param([0, 0]), param([0]), param([5]))
        setGrad(a, [3, 4])
        setGrad(b, [12])
        // c has no gradient and is ignored.
        let total = clipGradNorm([a, b, c], maxNorm: 6.5)
        #expect(abs(total - 13) < 1e-5)
        let coef = 6.5 / (13 + 1e-6)
        #expect(maxAbsDiff(a.value.grad!.toFloats(), [3 * coef, 4 * coef]) < 1e-6)
        #expect(maxAbsDiff(b.value.grad!.toFloats(), [12 * coef]) < 1e-6)
        #expect(c.value.grad == nil)
        // Below the limit: the coefficient clamps to 1 and gradients are unchanged.
        let again = clipGradNorm([a, b], maxNorm: 100)
        #expect(abs(again - 6.5) < 1e-5)
        #expect(maxAbsDiff(b.value.grad!.toFloats(), [12 * coef]) < 1e-6)
    }

    @Test func emaUpdatesCopiesAndRestores() throws {
        let p = param([1, 2])
        let ema = EMA([p], decay: 0.9)
        p.assign(Tensor([3, 4], shape: [2]))
        ema.update()
        #expect(maxAbsDiff(ema.shadow[0].toFloats(), [1.2, 2.2] as [Double]) < 1e-6)
        ema.copyToParameters()
        #expect(maxAbsDiff(p.value.toFloats(), [1.2, 2.2] as [Double]) < 1e-6)
        #expect(p.value.requiresGrad)
        ema.update()  // averaging the averages leaves them where they are
        ema.restore()
        #expect(p.value.toFloats() == [3, 4])
        let copy = EMA([param([0, 0])], decay: 0.9)
        try copy.loadStateDict(ema.stateDict())
        #expect(copy.shadow[0].toFloats() == ema.shadow[0].toFloats())
        #expect(throws: LatticeError.self) { try copy.loadStateDict([:]) }
    }

    @Test func schedules() {
        #expect(ConstantSchedule(0.3).learningRate(at: 1000) == 0.3)
        let warm = LinearWarmupSchedule(rate: 1, warmupSteps: 4)
        #expect([0, 1, 3, 4, 100].map { warm.learningRate(at: $0) } == [0.25, 0.5, 1, 1, 1])
        let cos = CosineWarmupSchedule(rate: 1, warmupSteps: 2, totalSteps: 6, minRate: 0.1)
        let values = [0, 1, 2, 4, 6, 100].map { cos.learningRate(at: $0) }
        let expected: [Double] = [0.5, 1, 1, 0.55, 0.1, 0.1]
        #expect(maxAbsDiff(values, expected) < 1e-6)
    }
}

extension SGD {
    fileprivate func stepWith(grad: [Float]) {
        for p in parameters { setGrad(p, grad) }
        step()
    }
}
