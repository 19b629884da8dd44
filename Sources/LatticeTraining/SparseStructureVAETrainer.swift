// The SS VAE objective (TRELLIS@6b0d647 trellis/trainers/vae/sparse_structure_vae.py):
// z = mean + exp(logvar/2)·ε (the posterior is sampled in training), logits = decoder(z),
// reconstruction = dice | bce | l1 on the 0/1 occupancy, loss = reconstruction + λ_kl·KL with
// KL = 0.5·mean(mean² + exp(logvar) - logvar - 1). Upstream defaults: loss_type 'bce',
// lambda_kl 1e-6; the released config uses 'dice' and 1e-3.
import Foundation
import LatticeModels
import LatticeNN
import LatticeTensor

/// Sparse-structure VAE training objective over a voxel dataset.
public final class SparseStructureVaeTrainer: TrainingObjective {
    /// Reconstruction loss.
    public enum LossType: String, Sendable { case bce, l1, dice }

    public let encoder: SparseStructureEncoder
    public let decoder: SparseStructureDecoder
    public let data: VoxelDataset
    public let lossType: LossType
    public let lambdaKL: Float

    public var models: [(name: String, module: Module)] {
        [("encoder", encoder), ("decoder", decoder)]
    }
    public var datasetCount: Int { data.count }

    public init(
        encoder: SparseStructureEncoder, decoder: SparseStructureDecoder, data: VoxelDataset,
        lossType: LossType = .bce, lambdaKL: Float = 1e-6
    ) {
        self.encoder = encoder
        self.decoder = decoder
        self.data = data
        self.lossType = lossType
        self.lambdaKL = lambdaKL
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let ss = try data.occupancyBatch(items)  // [B, 1, R, R, R]
        let (mean, logvar) = encoder(ss)  // [B, latent, r, r, r] each
        let eps = Tensor.randn(mean.shape, generator: &generator)  // [B, latent, r, r, r]
        let z = mean + (logvar * 0.5).exp() * eps
        let logits = decoder(z)  // [B, 1, R, R, R]
        var terms: [String: Tensor] = [:]
        let reconstruction: Tensor
        switch lossType {
        case .bce: reconstruction = Loss.bceWithLogits(logits, ss)
        case .l1: reconstruction = Loss.l1(logits.sigmoid(), ss)
        case .dice: reconstruction = Loss.dice(logits, ss)
        }
        terms[lossType.rawValue] = reconstruction
        let kl = Loss.kl(mean: mean, logvar: logvar)
        terms["kl"] = kl
        terms["loss"] = reconstruction + kl * lambdaKL
        return terms
    }

    /// Upstream initialisation: PyTorch defaults, with each ResBlock3d's conv2 zeroed
    /// (`zero_module`).
    public static func initialize(_ model: Module, generator: inout RandomGenerator) {
        model.resetParameters(generator: &generator)
        for (_, m) in model.namedModules() {
            guard let block = m as? TRELLIS.ResBlock3d else { continue }
            for (_, p) in block.conv2.namedParameters() { Initializer.constant(p, 0) }
        }
    }
}
