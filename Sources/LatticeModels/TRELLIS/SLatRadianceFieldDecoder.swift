// microsoft/TRELLIS@6b0d647:trellis/models/structured_latent_vae/decoder_rf.py
// (SLatRadianceFieldDecoder): SLat [N, latent] -> per-voxel Strivec leaves (LatticeRender).
import Foundation
import LatticeNN
import LatticeRender
import LatticeSparse
import LatticeTensor

/// The SLat radiance-field decoder: trunk, `F.layer_norm` (eps 1e-5), `out_layer`
/// (C -> rank·(3·dim + 1 + 3)), then one `Strivec` per batch item.
public final class SLatRadianceFieldDecoder: TRELLIS.SparseTransformerBase, @unchecked Sendable {
    /// Upstream `representation_config`.
    public struct RepresentationConfig: SLatRepresentationConfig {
        public static let owner = "SLatRadianceFieldDecoder"
        public var rank: Int
        public var dim: Int

        public init(rank: Int = 16, dim: Int = 8) {
            self.rank = rank
            self.dim = dim
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: SLatConfigKey.self)
            try c.rejectUnknown(
                ["rank", "dim"], owner: "SLatRadianceFieldDecoder representation_config")
            rank = try c.value("rank")
            dim = try c.value("dim")
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: SLatConfigKey.self)
            try c.encode(rank, forKey: .init("rank"))
            try c.encode(dim, forKey: .init("dim"))
        }
    }

    /// Constructor kwargs, keyed as `ckpts/slat_dec_rf_*.json` `args`.
    public typealias Config = TRELLIS.SLatDecoderConfig<RepresentationConfig>

    public let config: Config
    public let outLayer: SparseLinear
    /// Channel range of `trivec`, `density`, `features_dc` in the raw output.
    public let layout: [String: Range<Int>]
    public let outChannels: Int

    public init(_ config: Config) throws {
        let r = config.trunk.resolution
        guard r > 0, r & (r - 1) == 0 else {
            throw LatticeError(
                .invalidConfig, "SLatRadianceFieldDecoder: resolution \(r) must be a power of 2")
        }
        self.config = config
        let rep = config.representationConfig
        let (ranges, total) = SLatLayout.ranges([
            ("trivec", rep.rank * 3 * rep.dim), ("density", rep.rank),
            ("features_dc", rep.rank * 3),
        ])
        layout = ranges
        outChannels = total
        outLayer = SparseLinear(config.trunk.modelChannels, total)
        try super.init(
            inChannels: config.trunk.latentChannels, args: config.trunk,
            owner: "SLatRadianceFieldDecoder")
        register("out_layer", outLayer)
    }

    /// The network: `x` feats [N, latent] -> raw out_layer feats [N, rank·(3 dim + 4)].
    public func network(
        _ x: SparseTensor, blockOutput: ((Int, SparseTensor) -> Void)? = nil
    ) throws -> SparseTensor {
        let h = try trunk(x, blockOutput: blockOutput)
        return outLayer(h.replacing(feats: layerNorm(h.feats, weight: nil, bias: nil, eps: 1e-5)))
    }

    /// Upstream `forward`: one `Strivec` per batch item.
    public func callAsFunction(_ x: SparseTensor) throws -> [Strivec] {
        try toRepresentation(try network(x))
    }

    /// Upstream `to_representation`: position (c + 0.5)/R, depth log2 R, fields sliced from
    /// the raw features, `trivec` + 1, density_shift 0.
    public func toRepresentation(_ x: SparseTensor) throws -> [Strivec] {
        let rep = config.representationConfig
        let r = config.trunk.resolution
        guard x.feats.rank == 2, x.channels == outChannels else {
            throw LatticeError(
                .shapeMismatch,
                "SLatRadianceFieldDecoder.toRepresentation: feats \(x.feats.shape), expected [N, \(outChannels)]"
            )
        }
        var out: [Strivec] = []
        for b in 0..<x.batchSize {
            let rows = x.layout(b)
            let n = rows.count
            let feats = x.feats.slice(0, rows.lowerBound, rows.upperBound)  // [n, C]
            func field(_ k: String, _ shape: [Int]) -> Tensor {
                let range = layout[k] ?? 0..<0
                return feats.slice(1, range.lowerBound, range.upperBound).reshape([n] + shape)
            }
            let s = try Strivec(
                resolution: r, aabb: [-0.5, -0.5, -0.5, 1, 1, 1], shDegree: 0, rank: rep.rank,
                dim: rep.dim)
            s.densityShift = 0
            s.position = SLatLayout.voxelCentres(x, rows: rows, resolution: r)  // [n, 3]
            s.depth = Tensor(
                int32: [Int32](repeating: Int32(s.maxDepth), count: n), shape: [n, 1])
            s.trivec = field("trivec", [rep.rank, 3, rep.dim]) + 1  // [n, rank, 3, dim]
            s.density = field("density", [rep.rank]).contiguous()  // [n, rank]
            s.featuresDC = field("features_dc", [rep.rank, 1, 3]).contiguous()  // [n, rank, 1, 3]
            out.append(s)
        }
        return out
    }
}
