// Optimizers (SGD, Adam, AdamW) with PyTorch's update order, global-norm gradient clipping,
// parameter EMA and learning-rate schedules. State exports to [String: Tensor] for checkpoints.
//
// Updates never write into a parameter's current storage (it may be a memory-mapped checkpoint
// or still referenced by a recorded graph): each step writes a fresh float32 tensor and
// `Parameter.assign` installs it as a new gradient-tracking leaf, keeping `.grad`.
import Foundation
import LatticeTensor

/// A first-order optimizer over a fixed list of parameters.
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step()`, in a fixed order (state is indexed by position).
    var parameters: [Parameter] { get }
    /// Current learning rate (schedules set it before each step).
    var learningRate: Float { get set }
    /// Applies one update from the parameters' `.grad` (parameters without a gradient are skipped).
    func step()
    /// The optimizer state (moments, steps) by key, for checkpoints.
    func stateDict() -> [String: Tensor]
    /// Restores state saved by `stateDict()`; throws on missing, unexpected or mis-shaped entries.
    func loadStateDict(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears every parameter's gradient (PyTorch `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        for p in parameters { p.value.grad = nil }
    }
}

// MARK: Shared helpers

/// A contiguous float32 copy-or-self of a tensor's data, detached.
private func floatData(_ t: Tensor) -> Tensor {
    withNoGrad { t.detach().float().contiguous() }
}

/// Runs `body(i)` for every element index, split over threads by size only (deterministic:
/// each element's update is independent).
private func forEachElement(_ n: Int, _ body: (Int) -> Void) {
    Parallel.forRange(n, grain: 1 << 15) { r in
        for i in r { body(i) }
    }
}

/// Persistent per-parameter buffers keyed `param.<index>.<name>`, validated on import.
private struct OptimizerState {
    var buffers: [String: Tensor] = [:]

    mutating func buffer(_ index: Int, _ name: String, shape: [Int]) -> Tensor {
        let key = "param.\(index).\(name)"
        if let t = buffers[key] { return t }
        let t = Tensor(zeros: shape)
        buffers[key] = t
        return t
    }

    static func load(
        _ state: [String: Tensor], parameters: [Parameter], names: Set<String>, owner: String
    ) throws -> (buffers: [String: Tensor], steps: [Int]) {
        var buffers: [String: Tensor] = [:]
        var steps = [Int](repeating: 0, count: parameters.count)
        for (key, value) in state {
            let parts = key.split(separator: ".")
            guard parts.count == 3, parts[0] == "param", let i = Int(parts[1]),
                i >= 0 && i < parameters.count,
                names.contains(String(parts[2])) || parts[2] == "step"
            else {
                throw LatticeError(.unexpectedKey, "\(owner) state: unexpected entry '\(key)'")
            }
            if parts[2] == "step" {
                steps[i] = value.toInts().first ?? 0
                continue
            }
            guard value.shape == parameters[i].shape else {
                throw LatticeError(
                    .shapeMismatch,
                    "\(owner) state: '\(key)' has shape \(value.shape) but parameter \(i) has "
                        + "shape \(parameters[i].shape)")
            }
            // Own a float32 copy: the optimizer updates its buffers in place.
            let copy = Tensor(empty: value.shape)
            let src = floatData(value)
            copy.floats.update(from: src.floats, count: src.count)
            buffers[key] = copy
        }
        return (buffers, steps)
    }
}

// MARK: SGD

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay
/// (PyTorch `torch.optim.SGD`).
public final class SGD: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let nesterov: Bool
    private var state = OptimizerState()

    public init(
        _ parameters: [Parameter], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
        weightDecay: Float = 0, nesterov: Bool = false
    ) {
        precondition(
            !nesterov || (momentum > 0 && dampening == 0),
            "SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step() {
        withNoGrad {
            for (index, p) in parameters.enumerated() {
                guard let grad = p.value.grad else { continue }
                let g = floatData(grad)
                let x = floatData(p.value)
                let out = Tensor(empty: x.shape)
                let (pg, px, po) = (g.floats, x.floats, out.floats)
                let (lr, wd, mu, damp) = (learningRate, weightDecay, momentum, dampening)
                let key = "param.\(index).momentum_buffer"
                if mu != 0 {
                    // PyTorch seeds the buffer with the first gradient (no dampening on step 1).
                    let first = state.buffers[key] == nil
                    let pb = state.buffer(index, "momentum_buffer", shape: x.shape).floats
                    let nest = nesterov
                    forEachElement(x.count) { i in
                        var d = pg[i]
                        if wd != 0 { d = d + wd * px[i] }
                        pb[i] = first ? d : pb[i] * mu + (1 - damp) * d
                        let u = nest ? d + mu * pb[i] : pb[i]
                        po[i] = px[i] + -lr * u
                    }
                } else {
                    forEachElement(x.count) { i in
                        var d = pg[i]
                        if wd != 0 { d = d + wd * px[i] }
                        po[i] = px[i] + -lr * d
                    }
                }
                p.assign(out, keepGrad: true)
            }
        }
    }

    public func stateDict() -> [String: Tensor] { state.buffers }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        let loaded = try OptimizerState.load(
            state, parameters: parameters, names: ["momentum_buffer"], owner: "SGD")
        self.state.buffers = loaded.buffers
    }
}

// MARK: Adam / AdamW

/// Adam's moment updates shared by `Adam` (L2 decay added to the gradient) and `AdamW`
/// (decoupled decay), in PyTorch's single-tensor operation order. Scalars are formed in Double
/// and rounded to Float as PyTorch does when it hands Python floats to float32 kernels.
private struct AdamCore {
    var beta1: Float
    var beta2: Float
    var eps: Float
    var weightDecay: Float
    var decoupled: Bool
    var state = OptimizerState()
    var steps: [Int]

    mutating func step(_ parameters: [Parameter], learningRate: Float) {
        withNoGrad {
            for (index, p) in parameters.enumerated() {
                guard let grad = p.value.grad else { continue }
                steps[index] += 1
                let t = Double(steps[index])
                let g = floatData(grad)
                let x = floatData(p.value)
                let out = Tensor(empty: x.shape)
                let m = state.buffer(index, "exp_avg", shape: x.shape).floats
                let v = state.buffer(index, "exp_avg_sq", shape: x.shape).floats
                let (pg, px, po) = (g.floats, x.floats, out.floats)

                let lr = Double(learningRate)
                let b1 = Double(beta1)
                let b2 = Double(beta2)
                let decay = Float(1 - lr * Double(weightDecay))
                let l2 = decoupled ? 0 : weightDecay
                let hasDecoupledDecay = decoupled && weightDecay != 0
                let lerpWeight = Float(1 - b1)
                let beta2f = beta2
                let oneMinusBeta2 = Float(1 - b2)
                let stepSize = Float(-(lr / (1 - Foundation.pow(b1, t))))
                let bc2Sqrt = Float((1 - Foundation.pow(b2, t)).squareRoot())
                let epsf = eps
                forEachElement(x.count) { i in
                    var xi = px[i]
                    if hasDecoupledDecay { xi = xi * decay }
                    var gi = pg[i]
                    if l2 != 0 { gi = gi + l2 * px[i] }
                    // torch.lerp: start + w·(end - start) for w < 0.5, else end - (end - start)(1 - w).
                    let mi =
                        lerpWeight < 0.5
                        ? m[i] + lerpWeight * (gi - m[i]) : gi - (gi - m[i]) * (1 - lerpWeight)
                    let vi = v[i] * beta2f + oneMinusBeta2 * gi * gi
                    m[i] = mi
                    v[i] = vi
                    let denom = vi.squareRoot() / bc2Sqrt + epsf
                    po[i] = xi + stepSize * mi / denom
                }
                p.assign(out, keepGrad: true)
            }
        }
    }

    func stateDict() -> [String: Tensor] {
        var out = state.buffers
        for (i, s) in steps.enumerated() where s > 0 {
            out["param.\(i).step"] = Tensor(int64: [Int64(s)], shape: [])
        }
        return out
    }

    mutating func load(_ dict: [String: Tensor], parameters: [Parameter], owner: String) throws {
        let loaded = try OptimizerState.load(
            dict, parameters: parameters, names: ["exp_avg", "exp_avg_sq"], owner: owner)
        for (i, s) in loaded.steps.enumerated() where s > 0 {
            for name in ["exp_avg", "exp_avg_sq"] where loaded.buffers["param.\(i).\(name)"] == nil
            {
                throw LatticeError(.missingKey, "\(owner) state: 'param.\(i).\(name)' is missing")
            }
        }
        state.buffers = loaded.buffers
        steps = loaded.steps
    }
}

/// Adam with L2 weight decay added to the gradient (PyTorch `torch.optim.Adam`).
public final class Adam: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    private var core: AdamCore

    public init(
        _ parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9,
        beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        core = AdamCore(
            beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: false,
            steps: [Int](repeating: 0, count: parameters.count))
    }

    public func step() { core.step(parameters, learningRate: learningRate) }
    public func stateDict() -> [String: Tensor] { core.stateDict() }
    public func loadStateDict(_ state: [String: Tensor]) throws {
        try core.load(state, parameters: parameters, owner: "Adam")
    }
}

/// Adam with decoupled weight decay p ← p·(1 - lr·wd) (PyTorch `torch.optim.AdamW`).
public final class AdamW: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    private var core: AdamCore

    public init(
        _ parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9,
        beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 1e-2
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        core = AdamCore(
            beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: true,
            steps: [Int](repeating: 0, count: parameters.count))
    }

    public func step() { core.step(parameters, learningRate: learningRate) }
    public func stateDict() -> [String: Tensor] { core.stateDict() }
    public func loadStateDict(_ state: [String: Tensor]) throws {
        try core.load(state, parameters: parameters, owner: "AdamW")
    }
}

// MARK: Gradient clipping

/// Scales all gradients so their global L2 norm is at most `maxNorm` and returns the norm
/// before clipping (PyTorch `clip_grad_norm_`: coefficient min(1, maxNorm / (norm + 1e-6))).
@discardableResult
public func clipGradNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    withNoGrad {
        let grads = parameters.compactMap { p in p.value.grad.map { (p, floatData($0)) } }
        var sumSquares = 0.0
        for (_, g) in grads {
            let pg = g.floats
            for i in 0..<g.count { sumSquares += Double(pg[i]) * Double(pg[i]) }
        }
        let total = Float(sumSquares.squareRoot())
        let coefficient = min(maxNorm / (total + 1e-6), 1)
        for (p, g) in grads {
            let scaled = Tensor(empty: g.shape)
            let (pg, ps) = (g.floats, scaled.floats)
            forEachElement(g.count) { i in ps[i] = pg[i] * coefficient }
            p.value.grad = scaled
        }
        return total
    }
}

// MARK: EMA

/// Exponential moving average of parameters: shadow ← decay·shadow + (1 - decay)·p, as
/// TRELLIS keeps its `ema_0.9999` copies. `copyToParameters()` swaps the averages in for
/// evaluation and `restore()` puts the trained values back.
public final class EMA {
    /// The tracked parameters.
    public let parameters: [Parameter]
    /// Averaging rate per update.
    public let decay: Float
    /// The averages, one float32 tensor per parameter.
    public private(set) var shadow: [Tensor]
    private var backup: [Tensor]?

    public init(_ parameters: [Parameter], decay: Float = 0.9999) {
        self.parameters = parameters
        self.decay = decay
        shadow = parameters.map { p in
            let src = floatData(p.value)
            let copy = Tensor(empty: src.shape)
            copy.floats.update(from: src.floats, count: src.count)
            return copy
        }
    }

    /// Moves every average toward the current parameter values.
    public func update() {
        let (d, w) = (decay, 1 - decay)
        withNoGrad {
            for (p, s) in zip(parameters, shadow) {
                let x = floatData(p.value)
                let (px, ps) = (x.floats, s.floats)
                forEachElement(x.count) { i in ps[i] = ps[i] * d + px[i] * w }
            }
        }
    }

    /// Replaces the parameters by their averages, remembering the trained values.
    public func copyToParameters() {
        backup = parameters.map(\.value)
        // Copies, so a later update() does not move the installed values.
        for (p, s) in zip(parameters, shadow) { p.assign(s.rawCopy()) }
    }

    /// Puts back the values saved by `copyToParameters()`.
    public func restore() {
        guard let backup else { return }
        for (p, v) in zip(parameters, backup) { p.value = v }
        self.backup = nil
    }

    /// The averages keyed `param.<index>.ema`.
    public func stateDict() -> [String: Tensor] {
        Dictionary(
            uniqueKeysWithValues: shadow.enumerated().map { ("param.\($0.offset).ema", $0.element) }
        )
    }

    /// Restores averages saved by `stateDict()`.
    public func loadStateDict(_ state: [String: Tensor]) throws {
        var next = shadow
        for (i, s) in shadow.enumerated() {
            guard let t = state["param.\(i).ema"] else {
                throw LatticeError(.missingKey, "EMA state: 'param.\(i).ema' is missing")
            }
            guard t.shape == s.shape else {
                throw LatticeError(
                    .shapeMismatch,
                    "EMA state: 'param.\(i).ema' has shape \(t.shape), expected \(s.shape)")
            }
            next[i] = floatData(t).rawCopy()
        }
        if state.count != shadow.count {
            throw LatticeError(
                .unexpectedKey,
                "EMA state: \(state.count) entries for \(shadow.count) parameters")
        }
        shadow = next
    }
}

extension Tensor {
    /// A new contiguous float32 tensor with this (contiguous float32) tensor's values.
    fileprivate func rawCopy() -> Tensor {
        let out = Tensor(empty: shape)
        out.floats.update(from: floats, count: count)
        return out
    }
}

// MARK: Learning-rate schedules

/// A learning rate as a function of the (zero-based) optimizer step.
public protocol LearningRateSchedule: Sendable {
    /// The rate to use for step `step` (0 for the first update).
    func learningRate(at step: Int) -> Float
}

/// A fixed rate.
public struct ConstantSchedule: LearningRateSchedule {
    public let rate: Float
    public init(_ rate: Float) { self.rate = rate }
    public func learningRate(at step: Int) -> Float { rate }
}

/// Linear warmup to `rate` over `warmupSteps`, then constant. Step s < warmup gets
/// rate·(s + 1)/warmup, so the first update is not wasted (TRELLIS's LinearWarmupLRScheduler).
public struct LinearWarmupSchedule: LearningRateSchedule {
    public let rate: Float
    public let warmupSteps: Int
    public init(rate: Float, warmupSteps: Int) {
        self.rate = rate
        self.warmupSteps = warmupSteps
    }
    public func learningRate(at step: Int) -> Float {
        step < warmupSteps ? rate * Float(step + 1) / Float(warmupSteps) : rate
    }
}

/// Linear warmup (as `LinearWarmupSchedule`), then half-cosine decay from `rate` to `minRate`
/// at `totalSteps`; constant `minRate` afterwards.
public struct CosineWarmupSchedule: LearningRateSchedule {
    public let rate: Float
    public let warmupSteps: Int
    public let totalSteps: Int
    public let minRate: Float
    public init(rate: Float, warmupSteps: Int, totalSteps: Int, minRate: Float = 0) {
        self.rate = rate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRate = minRate
    }
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return rate * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        let cosine = 0.5 * (1 + Foundation.cos(Double.pi * progress))
        return minRate + (rate - minRate) * Float(cosine)
    }
}
