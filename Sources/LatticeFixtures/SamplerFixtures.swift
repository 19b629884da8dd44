// Fixture handlers for TRELLIS's flow samplers (trellis__sampler_*), run on the fixture's
// SparseStructureFlowModel weights with every model call recorded.
import Foundation
import LatticeModels
import LatticePipelines

enum SamplerFixtures {
    /// `FlowEulerGuidanceIntervalSampler.sample`, single-image or in a `run_multi_image` mode
    /// (stochastic, multidiffusion): samples, per-step
    /// x_t and x0 predictions, the float64 schedule and the raw output of every model call.
    static func flowEuler(_ f: Fixture) throws -> [String: any FixtureValue] {
        let mode = f.configJSON["mode"]?.stringValue ?? "single"
        let multiImage = FlowEulerSampler.MultiImageMode(rawValue: mode)
        guard mode == "single" || multiImage != nil else {
            throw LatticeError(
                .unsupported,
                "\(f.url.path): sampler mode '\(mode)', expected single, stochastic or multidiffusion"
            )
        }
        guard let flowJSON = f.configJSON["flow_model"], let params = f.configJSON["sample_params"],
            let steps = params["steps"]?.doubleValue,
            let rescale = params["rescale_t"]?.doubleValue,
            let strength = params["cfg_strength"]?.doubleValue,
            let interval = params["cfg_interval"]?.arrayValue, interval.count == 2,
            let lo = interval[0].doubleValue, let hi = interval[1].doubleValue
        else {
            throw LatticeError(
                .invalidConfig,
                "\(f.url.path): config needs flow_model and sample_params {steps, rescale_t, cfg_strength, cfg_interval}"
            )
        }
        let sigmaMin = f.configJSON["sampler"]?["sigma_min"]?.doubleValue ?? 1e-5
        let config = try JSONDecoder().decode(
            SparseStructureFlowModel.Config.self, from: Data(flowJSON.serialized().utf8))
        let model = try SparseStructureFlowModel(config)
        try model.load(f.params, source: f.url.path)

        let noise = try f.input("noise")
        let cond = try f.input("cond")
        let negCond = try f.input("neg_cond")
        var out: [String: any FixtureValue] = [:]
        var calls = 0
        let recorded: FlowModel = { x, t, c in
            let v = model(x, t: t, cond: c)
            out["calls.\(calls).v"] = v
            calls += 1
            return v
        }
        let sampler = FlowEulerSampler(sigmaMin: sigmaMin)
        let samples = withNoGrad {
            sampler.sample(
                model: recorded, noise: noise, cond: cond, negCond: negCond, steps: Int(steps),
                rescaleT: rescale,
                guidance: .init(strength: strength, interval: lo...hi), multiImage: multiImage
            ) { step in
                out["pred_x_t.\(step.index)"] = step.xPrev
                out["pred_x_0.\(step.index)"] = step.predX0
            }
        }
        out["samples"] = samples
        let tSeq = FlowEulerSampler.schedule(steps: Int(steps), rescaleT: rescale)
        out["t_seq"] = DoubleTensor(tSeq, shape: [tSeq.count])
        return out
    }
}
