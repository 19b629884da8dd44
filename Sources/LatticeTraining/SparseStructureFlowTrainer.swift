// The SS flow objective (TRELLIS@6b0d647 trellis/trainers/flow_matching/flow_matching.py with
// mixins/classifier_free_guidance.py and image_conditioned.py): conditional flow matching
//   t ~ sigmoid(N(mean, std)) ("logitNormal"; the image config uses mean 1, std 1) or U(0, 1),
//   x_t = (1 - t)·x_0 + (σ_min + (1 - σ_min)·t)·ε,  target v = (1 - σ_min)·ε - x_0,
//   loss = MSE(denoiser(x_t, 1000·t, cond), v),
// with each sample's condition replaced by the negative condition (zeros, as the image mixin
// builds it) with probability p_uncond. Latents and conditions come from closures, so the
// DINOv2 conditioner and latent datasets plug in later.
import Foundation
import LatticeModels
import LatticeNN
import LatticeTensor

/// Image-conditioned sparse-structure flow-matching objective with condition dropout.
public final class ImageConditionedFlowMatchingCFGTrainer: TrainingObjective {
    /// Timestep distribution.
    public enum TimeSchedule: Sendable, Equatable {
        case uniform
        case logitNormal(mean: Float, std: Float)
    }

    public let denoiser: SparseStructureFlowModel
    /// Further trained modules (e.g. an image encoder producing `condition` with gradients);
    /// they follow "denoiser" in `models`.
    public let extraModels: [(name: String, module: Module)]
    public let sigmaMin: Float
    public let pUncond: Float
    public let tSchedule: TimeSchedule
    public let datasetCount: Int
    /// x_0 of the given dataset items: [B, C, r, r, r].
    public let latents: ([Int]) throws -> Tensor
    /// Conditioning tokens of the given items: [B, L, cond_channels].
    public let condition: ([Int]) throws -> Tensor

    public var models: [(name: String, module: Module)] {
        [("denoiser", denoiser)] + extraModels
    }

    public init(
        denoiser: SparseStructureFlowModel, datasetCount: Int, sigmaMin: Float = 1e-5,
        pUncond: Float = 0.1, tSchedule: TimeSchedule = .logitNormal(mean: 1, std: 1),
        extraModels: [(name: String, module: Module)] = [],
        latents: @escaping ([Int]) throws -> Tensor, condition: @escaping ([Int]) throws -> Tensor
    ) {
        self.denoiser = denoiser
        self.datasetCount = datasetCount
        self.sigmaMin = sigmaMin
        self.pUncond = pUncond
        self.tSchedule = tSchedule
        self.extraModels = extraModels
        self.latents = latents
        self.condition = condition
    }

    /// Timesteps in (0, 1) for a batch of `b`.
    public func sampleT(_ b: Int, generator: inout RandomGenerator) -> [Float] {
        sampleFlowTimes(tSchedule, b, generator: &generator)
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let x0 = try latents(items).float().contiguous()  // [B, C, r, r, r]
        let b = x0.shape[0]
        guard b == items.count else {
            throw LatticeError(
                .shapeMismatch, "flow trainer: latents batch \(b) for \(items.count) items")
        }
        let perSample = x0.count / b
        let noise = Tensor.randn(x0.shape, generator: &generator)  // [B, C, r, r, r]
        let t = sampleT(b, generator: &generator)
        let (px, pn) = (x0.toFloats(), noise.toFloats())
        var xt = [Float](repeating: 0, count: x0.count)
        var target = [Float](repeating: 0, count: x0.count)
        let s = sigmaMin
        for i in 0..<x0.count {
            let tb = t[i / perSample]
            xt[i] = (1 - tb) * px[i] + (s + (1 - s) * tb) * pn[i]
            target[i] = (1 - s) * pn[i] - px[i]
        }
        let cond = try condition(items).float().contiguous()  // [B, L, Cc]
        guard cond.rank == 3, cond.shape[0] == b else {
            throw LatticeError(
                .shapeMismatch, "flow trainer: condition shape \(cond.shape), expected [\(b), L, C]"
            )
        }
        // Classifier-free guidance training: drop whole samples' conditions to zeros.
        let drop = generator.uniform(count: b).map { $0 < pUncond }
        let pred = denoiser(
            Tensor(xt, shape: x0.shape), t: Tensor(t.map { $0 * 1000 }, shape: [b]),
            cond: droppingConditions(cond, drop))
        let mse = Loss.mse(pred, Tensor(target, shape: x0.shape))
        return ["loss": mse, "mse": mse]
    }

    /// Upstream `initialize_weights`: Xavier-uniform Linear weights with zero biases, N(0, 0.02)
    /// timestep-MLP weights, zeroed adaLN modulations and output layer.
    public static func initialize(
        _ model: SparseStructureFlowModel, generator: inout RandomGenerator
    ) {
        model.resetParameters(generator: &generator)
        for (_, m) in model.namedModules() {
            guard let linear = m as? Linear else { continue }
            let bound = (6 / Float(linear.inFeatures + linear.outFeatures)).squareRoot()
            Initializer.uniform(linear.weight, bound: bound, generator: &generator)
            if let bias = linear.bias { Initializer.constant(bias, 0) }
        }
        for (key, p) in model.namedParameters() {
            if key == "t_embedder.mlp.0.weight" || key == "t_embedder.mlp.2.weight" {
                Initializer.normal(p, std: 0.02, generator: &generator)
            } else if key.contains("adaLN_modulation") || key.hasPrefix("out_layer.") {
                Initializer.constant(p, 0)
            }
        }
    }
}
