// The SLat flow objective (TRELLIS@6b0d647 trellis/trainers/flow_matching/sparse_flow_matching.py
// SparseFlowMatchingCFGTrainer / ImageConditionedSparseFlowMatchingCFGTrainer, with
// mixins/classifier_free_guidance.py and image_conditioned.py): the conditional flow-matching loss
// of the SS flow trainer on sparse latents. Each item is a set of active voxels with normalised
// latents [N, 8]; the batch is one SparseTensor, every item gets its own t, and
//   x_t = (1 - t)·x_0 + (σ_min + (1 - σ_min)·t)·ε,  v = (1 - σ_min)·ε - x_0,
//   loss = MSE over all rows and channels of (SLatFlowModel(x_t, 1000·t, cond) - v),
// with whole conditions swapped for the negative condition (zeros) with probability p_uncond.
// Upstream also logs the MSE per t bin; Lattice logs only the batch MSE (fixed log columns).
import Foundation
import LatticeModels
import LatticeNN
import LatticeSparse
import LatticeTensor

/// Image-conditioned structured-latent flow-matching objective with condition dropout.
public final class SLatFlowMatchingTrainer: TrainingObjective {
    /// Timestep distribution (shared with the SS flow trainer).
    public typealias TimeSchedule = ImageConditionedFlowMatchingCFGTrainer.TimeSchedule
    /// One item's structured latent: active voxels (x, y, z) in `0..<resolution` and their
    /// normalised latents [N, in_channels] row-major.
    public typealias LatentItem = (coords: [SIMD3<Int32>], feats: [Float])

    public let denoiser: SLatFlowModel
    /// Further trained modules (e.g. an image encoder producing `condition` with gradients);
    /// they follow "denoiser" in `models`.
    public let extraModels: [(name: String, module: Module)]
    public let sigmaMin: Float
    public let pUncond: Float
    public let tSchedule: TimeSchedule
    public let datasetCount: Int
    /// x_0 of one dataset item.
    public let latents: (Int) throws -> LatentItem
    /// Conditioning tokens of the given items: [B, L, cond_channels].
    public let condition: ([Int]) throws -> Tensor

    public var models: [(name: String, module: Module)] {
        [("denoiser", denoiser)] + extraModels
    }

    public init(
        denoiser: SLatFlowModel, datasetCount: Int, sigmaMin: Float = 1e-5, pUncond: Float = 0.1,
        tSchedule: TimeSchedule = .logitNormal(mean: 1, std: 1),
        extraModels: [(name: String, module: Module)] = [],
        latents: @escaping (Int) throws -> LatentItem,
        condition: @escaping ([Int]) throws -> Tensor
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

    /// Which of `b` items get the negative condition (each with probability p_uncond).
    public func sampleConditionDrop(_ b: Int, generator: inout RandomGenerator) -> [Bool] {
        generator.uniform(count: b).map { $0 < pUncond }
    }

    /// The items' latents as one SparseTensor (coords b, x, y, z; each item's rows contiguous,
    /// items in the given order; feats [N, in_channels]).
    public func batch(_ items: [Int]) throws -> SparseTensor {
        let c = denoiser.config.inChannels
        var coords: [Int32] = []
        var feats: [Float] = []
        for (b, item) in items.enumerated() {
            let x = try latents(item)
            guard !x.coords.isEmpty, x.feats.count == x.coords.count * c else {
                throw LatticeError(
                    .shapeMismatch,
                    "SLat flow trainer: item \(item) has \(x.coords.count) voxels and "
                        + "\(x.feats.count) latent values (expected a non-empty [N, \(c)])")
            }
            coords.reserveCapacity(coords.count + 4 * x.coords.count)
            for p in x.coords { coords += [Int32(b), p.x, p.y, p.z] }
            feats += x.feats
        }
        let n = coords.count / 4
        return try SparseTensor(
            coords: Tensor(int32: coords, shape: [n, 4]),  // [N, 4]
            feats: Tensor(feats, shape: [n, c]),  // [N, C]
            batchSize: items.count, resolution: denoiser.config.resolution)
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let x0 = try batch(items)
        let b = items.count
        let shape = x0.feats.shape  // [N, C]
        let noise = Tensor.randn(shape, generator: &generator)  // [N, C]
        let t = sampleT(b, generator: &generator)
        let (px, pn) = (x0.feats.toFloats(), noise.toFloats())
        var xt = [Float](repeating: 0, count: px.count)
        var target = [Float](repeating: 0, count: px.count)
        let s = sigmaMin
        let c = shape[1]
        for item in 0..<b {
            let tb = t[item]
            for i in (x0.offsets[item] * c)..<(x0.offsets[item + 1] * c) {
                xt[i] = (1 - tb) * px[i] + (s + (1 - s) * tb) * pn[i]
                target[i] = (1 - s) * pn[i] - px[i]
            }
        }
        let cond = try condition(items).float()  // [B, L, Cc]
        guard cond.rank == 3, cond.shape[0] == b else {
            throw LatticeError(
                .shapeMismatch,
                "SLat flow trainer: condition shape \(cond.shape), expected [\(b), L, C]")
        }
        let drop = sampleConditionDrop(b, generator: &generator)
        let pred = try denoiser(
            x0.replacing(feats: Tensor(xt, shape: shape)),
            t: Tensor(t.map { $0 * 1000 }, shape: [b]),
            cond: droppingConditions(cond, drop))
        let mse = Loss.mse(pred.feats, Tensor(target, shape: shape))
        return ["loss": mse, "mse": mse]
    }

    /// Upstream `initialize_weights` on top of the layers' constructors: Xavier-uniform weights
    /// and zero biases for every Linear and SparseLinear (an `nn.Linear` upstream), spconv's
    /// default U(±1/√fan_in) for the submanifold convs, zeroed `conv2` in each io ResBlock
    /// (`zero_module`), N(0, 0.02) timestep-MLP weights, zeroed adaLN modulations and output.
    public static func initialize(_ model: SLatFlowModel, generator: inout RandomGenerator) {
        model.resetParameters(generator: &generator)
        for (_, m) in model.namedModules() {
            if let linear = m as? Linear {
                xavier(linear.weight, generator: &generator)
                if let bias = linear.bias { Initializer.constant(bias, 0) }
            } else if let linear = m as? SparseLinear {
                xavier(linear.weight, generator: &generator)
                if let bias = linear.bias { Initializer.constant(bias, 0) }
            } else if let conv = m as? SparseConv3d.SubMConv {
                let fanIn = conv.weight.shape.dropFirst().reduce(1, *)  // k·k·k·Cin
                let bound = 1 / Float(fanIn).squareRoot()
                Initializer.uniform(conv.weight, bound: bound, generator: &generator)
                if let bias = conv.bias {
                    Initializer.uniform(bias, bound: bound, generator: &generator)
                }
            }
        }
        for block in model.inputBlocks + model.outBlocks {
            for (_, p) in block.conv2.namedParameters() { Initializer.constant(p, 0) }
        }
        for (key, p) in model.namedParameters() {
            if key == "t_embedder.mlp.0.weight" || key == "t_embedder.mlp.2.weight" {
                Initializer.normal(p, std: 0.02, generator: &generator)
            } else if key.contains("adaLN_modulation") || key.hasPrefix("out_layer.") {
                Initializer.constant(p, 0)
            }
        }
    }

    /// torch `xavier_uniform_` of a [out, in] weight.
    private static func xavier(_ weight: Parameter, generator: inout RandomGenerator) {
        let bound = (6 / Float(weight.shape[0] + weight.shape[1])).squareRoot()
        Initializer.uniform(weight, bound: bound, generator: &generator)
    }
}

/// Timesteps in (0, 1): U(0, 1) or sigmoid(N(mean, std)) (upstream `sample_t`).
func sampleFlowTimes(
    _ schedule: ImageConditionedFlowMatchingCFGTrainer.TimeSchedule, _ b: Int,
    generator: inout RandomGenerator
) -> [Float] {
    switch schedule {
    case .uniform: return generator.uniform(count: b)
    case .logitNormal(let mean, let std):
        return generator.normal(count: b).map { 1 / (1 + Foundation.exp(-($0 * std + mean))) }
    }
}

/// `cond` [B, L, C] with the items flagged in `drop` replaced by the negative condition (zeros),
/// as the classifier-free-guidance mixin does. Built by concatenating per-item slices so kept
/// items keep their gradient path (an encoder trained jointly) and their exact values.
func droppingConditions(_ cond: Tensor, _ drop: [Bool]) -> Tensor {
    guard drop.contains(true) else { return cond }
    let zero = Tensor(zeros: [1] + cond.shape.dropFirst())  // [1, L, C]
    let rows = drop.enumerated().map { i, d in d ? zero : cond.slice(0, i, i + 1) }
    return Tensor.cat(rows, axis: 0)  // [B, L, C]
}
