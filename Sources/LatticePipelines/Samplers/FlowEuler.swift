// microsoft/TRELLIS@6b0d647:trellis/pipelines/samplers/flow_euler.py (+ classifier_free_guidance
// and guidance_interval mixins): rectified-flow Euler sampling with CFG on a guidance interval.
import LatticeTensor

/// A velocity model: `v = model(x_t, 1000·t as float32 [B], cond)`.
public typealias FlowModel = (_ x: Tensor, _ tModel: Tensor, _ cond: Tensor) -> Tensor

/// Euler sampler of TRELLIS's flow models (t = 1 is noise, t = 0 data).
public struct FlowEulerSampler: Sendable {
    /// σ_min of the forward process x_t = (1−t)·x0 + (σ_min + (1−σ_min)·t)·ε.
    public var sigmaMin: Double

    public init(sigmaMin: Double = 1e-5) { self.sigmaMin = sigmaMin }

    /// Classifier-free guidance settings: `v = (1+w)·v_cond − w·v_neg` while
    /// `interval.lowerBound ≤ t ≤ interval.upperBound`, else `v_cond` alone.
    public struct Guidance: Sendable {
        public var strength: Double
        public var interval: ClosedRange<Double>
        public init(strength: Double, interval: ClosedRange<Double> = 0...1) {
            self.strength = strength
            self.interval = interval
        }
    }

    /// How several conditioning images share one sample (upstream `run_multi_image` modes).
    public enum MultiImageMode: String, Sendable {
        /// Step s is conditioned on image s mod K.
        case stochastic
        /// Every step averages the K conditional velocities (summed in image order, then / K).
        case multidiffusion
    }

    /// One finished step, for progress display and debugging.
    public struct Step {
        public let index: Int
        public let t: Double
        public let tPrev: Double
        /// x after this step, [B, ...].
        public let xPrev: Tensor
        /// The step's prediction of the clean sample.
        public let predX0: Tensor
    }

    /// Replaces a step's velocity (x_t, t, v) -> v' (a type, not a bare closure, so trailing
    /// closures keep binding to `onStep`).
    public struct VelocityCompensation {
        public let apply: (_ x: Tensor, _ t: Double, _ v: Tensor) -> Tensor
        public init(_ apply: @escaping (_ x: Tensor, _ t: Double, _ v: Tensor) -> Tensor) {
            self.apply = apply
        }
    }

    /// `linspace(1, 0, steps+1)` rescaled by `r·t / (1 + (r−1)·t)`, in float64 as upstream.
    public static func schedule(steps: Int, rescaleT: Double) -> [Double] {
        precondition(steps >= 1, "sampler needs at least one step, got \(steps)")
        return (0...steps).map { i in
            let t = 1.0 - Double(i) / Double(steps)
            return rescaleT * t / (1 + (rescaleT - 1) * t)
        }
    }

    /// Runs the sampler from `noise`; `cond` and `negCond` with batch 1 are repeated to the
    /// noise batch. With `multiImage`, `cond` holds K images' conditions along axis 0 (each used
    /// with batch 1). `batchSize` overrides the batch read from `noise.shape[0]` (sparse latents
    /// pass their feats [N, C] as `noise` with batch 1). `velocityCompensation` replaces
    /// each step's (guided) velocity by its result (ReconViaGen's RVC). `onStep` sees every step
    /// as it finishes. Returns the final sample.
    public func sample(
        model: FlowModel, noise: Tensor, cond: Tensor, negCond: Tensor? = nil, steps: Int,
        rescaleT: Double = 1, guidance: Guidance? = nil, multiImage: MultiImageMode? = nil,
        batchSize: Int? = nil, velocityCompensation: VelocityCompensation? = nil,
        onStep: ((Step) -> Void)? = nil
    ) -> Tensor {
        let batch = batchSize ?? noise.shape[0]
        func repeated(_ c: Tensor) -> Tensor {
            c.shape[0] == batch || c.shape[0] != 1
                ? c : c.expand([batch] + Array(c.shape.dropFirst())).contiguous()
        }
        // Per-image conditions [1, L, C] repeated to the batch; one entry without multiImage.
        let conds: [Tensor] =
            multiImage == nil
            ? [repeated(cond)] : (0..<cond.shape[0]).map { repeated(cond.slice(0, $0, $0 + 1)) }
        let negCond = negCond.map(repeated)
        let tSeq = FlowEulerSampler.schedule(steps: steps, rescaleT: rescaleT)
        var x = noise
        for i in 0..<steps {
            let t = tSeq[i]
            let tPrev = tSeq[i + 1]
            let tModel = Tensor(full: [batch], value: Float(1000 * t))  // [B], float32
            var v: Tensor
            switch multiImage {
            case nil: v = model(x, tModel, conds[0])
            case .stochastic: v = model(x, tModel, conds[i % conds.count])
            case .multidiffusion:
                v = model(x, tModel, conds[0])
                for c in conds.dropFirst() { v = v + model(x, tModel, c) }
                v = v / Float(conds.count)
            }
            if let g = guidance, let negCond, g.interval.contains(t) {
                let vNeg = model(x, tModel, negCond)
                v = Float(1 + g.strength) * v - Float(g.strength) * vNeg
            }
            if let velocityCompensation { v = velocityCompensation.apply(x, t, v) }
            // Python float64 scalars meet float32 tensors: PyTorch rounds the scalar to float32.
            let predX0 = Float(1 - sigmaMin) * x - Float(sigmaMin + (1 - sigmaMin) * t) * v
            x = x - Float(t - tPrev) * v
            onStep?(Step(index: i, t: t, tPrev: tPrev, xPrev: x, predX0: predX0))
        }
        return x
    }
}
