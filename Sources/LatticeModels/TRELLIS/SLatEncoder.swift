// microsoft/TRELLIS@6b0d647:trellis/models/structured_latent_vae/encoder.py (SLatEncoder):
// per-voxel features [N, in] -> posterior mean / logvar [N, latent] on the same voxels.
import Foundation
import LatticeNN
import LatticeSparse
import LatticeTensor

/// The SLat VAE encoder: trunk, `F.layer_norm` (eps 1e-5, no affine), `out_layer` (C -> 2 latent).
public final class SLatEncoder: TRELLIS.SparseTransformerBase, @unchecked Sendable {
    /// Constructor kwargs, keyed as the checkpoints' `ckpts/slat_enc_*.json` `args`.
    public struct Config: Codable, Sendable, Equatable {
        /// Every upstream keyword argument (the JSON keys this config accepts).
        public static let argumentKeys = TRELLIS.SLatTrunkArgs.keys + ["in_channels"]

        public var trunk: TRELLIS.SLatTrunkArgs
        public var inChannels: Int

        public init(trunk: TRELLIS.SLatTrunkArgs, inChannels: Int) {
            self.trunk = trunk
            self.inChannels = inChannels
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: SLatConfigKey.self)
            try c.rejectUnknown(TRELLIS.SLatTrunkArgs.keys + ["in_channels"], owner: "SLatEncoder")
            trunk = try TRELLIS.SLatTrunkArgs(c)
            inChannels = try c.value("in_channels")
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: SLatConfigKey.self)
            try trunk.encode(to: &c)
            try c.encode(inChannels, forKey: .init("in_channels"))
        }
    }

    public let config: Config
    public let outLayer: SparseLinear

    public init(_ config: Config) throws {
        self.config = config
        outLayer = SparseLinear(config.trunk.modelChannels, 2 * config.trunk.latentChannels)
        try super.init(inChannels: config.inChannels, args: config.trunk, owner: "SLatEncoder")
        register("out_layer", outLayer)
    }

    /// `x`: feats [N, in] -> (mean, logvar), each feats [N, latent] on the sites of `x`.
    public func callAsFunction(_ x: SparseTensor) throws -> (
        mean: SparseTensor, logvar: SparseTensor
    ) {
        let h = try trunk(x)
        let normed = h.replacing(feats: layerNorm(h.feats, weight: nil, bias: nil, eps: 1e-5))
        let out = outLayer(normed).feats  // [N, 2 latent]
        let parts = out.chunk(2, axis: -1)
        return (x.replacing(feats: parts[0]), x.replacing(feats: parts[1]))
    }

    /// Upstream `sample_posterior=True`: z = mean + exp(logvar / 2) · ε with ε from `generator`.
    public func sample(_ x: SparseTensor, generator: inout RandomGenerator) throws -> SparseTensor {
        let (mean, logvar) = try self(x)
        let eps = Tensor.randn(mean.feats.shape, generator: &generator)  // [N, latent]
        return mean.replacing(feats: mean.feats + (logvar.feats * 0.5).exp() * eps)
    }
}
