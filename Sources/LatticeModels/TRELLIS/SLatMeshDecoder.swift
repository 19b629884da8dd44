// microsoft/TRELLIS@6b0d647:trellis/models/structured_latent_vae/decoder_mesh.py
// (SparseSubdivideBlock3d, SLatMeshDecoder): the network up to the per-voxel FlexiCubes features
// at 4x the latent resolution. The mesh extraction (SparseFeatures2Mesh) is a separate port.
import Foundation
import LatticeNN
import LatticeSparse
import LatticeTensor

extension TRELLIS {
    /// Doubles the resolution of a sparse tensor: `h = SiLU(GN(x))`, both `h` and `x` subdivided
    /// (8 children per voxel, Q3 order), `h = conv3(SiLU(GN(conv3(h))))`, `h + skip(x)` with a
    /// k1 SubM conv skip (spconv's view quirk, Q1) when the channels change.
    public final class SparseSubdivideBlock3d: Module, @unchecked Sendable {
        public let channels: Int
        public let resolution: Int
        public let outChannels: Int
        /// `act_layers.0`.
        public let actNorm: SparseGroupNorm
        /// `out_layers.0`, `out_layers.1`, `out_layers.3` (index 2 is the SiLU).
        public let outConv1: SparseConv3d
        public let outNorm: SparseGroupNorm
        public let outConv2: SparseConv3d
        public let skipConnection: SparseConv3d?

        public init(channels: Int, resolution: Int, outChannels: Int? = nil, numGroups: Int = 32)
            throws
        {
            let out = outChannels ?? channels
            guard numGroups > 0, channels % numGroups == 0, out % numGroups == 0 else {
                throw LatticeError(
                    .invalidConfig,
                    "SparseSubdivideBlock3d: GroupNorm(\(numGroups)) needs channels \(channels) and out_channels \(out) divisible by it"
                )
            }
            self.channels = channels
            self.resolution = resolution
            self.outChannels = out
            actNorm = SparseGroupNorm(groups: numGroups, channels: channels)
            outConv1 = SparseConv3d(channels, out, kernel: 3)
            outNorm = SparseGroupNorm(groups: numGroups, channels: out)
            outConv2 = SparseConv3d(out, out, kernel: 3)
            skipConnection = out == channels ? nil : SparseConv3d(channels, out, kernel: 1)
            super.init()
            register("act_layers.0", actNorm)
            register("out_layers.0", outConv1)
            register("out_layers.1", outNorm)
            register("out_layers.3", outConv2)
            if let skipConnection { register("skip_connection", skipConnection) }
        }

        /// feats [N, C] at resolution R -> [8N, C'] at 2R (row r -> rows 8r..8r+7).
        public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor {
            var h = actNorm(x).map { $0.silu() }
            h = try sparseSubdivide(h)
            let xs = try sparseSubdivide(x)
            h = try outConv1(h)
            h = outNorm(h).map { $0.silu() }
            h = try outConv2(h)
            let skip = try skipConnection.map { try $0(xs) } ?? xs
            return h + skip
        }
    }
}

/// The SLat mesh decoder network: trunk (no final norm), two SparseSubdivideBlock3d
/// (C -> C/4 -> C/8, resolution ×4), `out_layer` (C/8 -> FlexiCubes feature channels:
/// sdf 8, deform 24, weights 21, plus colour 48 with `use_color`).
public final class SLatMeshDecoder: TRELLIS.SparseTransformerBase, @unchecked Sendable {
    /// Upstream `representation_config` (`use_color`).
    public struct RepresentationConfig: SLatRepresentationConfig {
        public static let owner = "SLatMeshDecoder"
        public var useColor: Bool

        public init(useColor: Bool = true) { self.useColor = useColor }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: SLatConfigKey.self)
            try c.rejectUnknown(["use_color"], owner: "SLatMeshDecoder representation_config")
            useColor = try c.optional("use_color") ?? false
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: SLatConfigKey.self)
            try c.encode(useColor, forKey: .init("use_color"))
        }
    }

    /// Constructor kwargs, keyed as `ckpts/slat_dec_mesh_*.json` `args`.
    public typealias Config = TRELLIS.SLatDecoderConfig<RepresentationConfig>

    /// Intermediate tensors of one forward, for parity checks.
    public struct Intermediates: @unchecked Sendable {
        /// Output of the last transformer block [N, C].
        public var trunk: SparseTensor?
        /// Outputs of `upsample.0` [8N, C/4] and `upsample.1` [64N, C/8].
        public var upsample: [SparseTensor] = []

        public init() {}
    }

    public let config: Config
    public let upsample: [TRELLIS.SparseSubdivideBlock3d]
    public let outLayer: SparseLinear
    /// FlexiCubes feature channels per fine voxel (upstream `mesh_extractor.feats_channels`).
    public let outChannels: Int
    /// Resolution of the output voxels (4 × resolution), the mesh extractor's `res`.
    public var meshResolution: Int { 4 * config.trunk.resolution }

    /// `subdivideNumGroups` is upstream's fixed GroupNorm default (32); it is not a config key.
    public init(_ config: Config, subdivideNumGroups: Int = 32) throws {
        self.config = config
        let c = config.trunk.modelChannels
        let r = config.trunk.resolution
        upsample = [
            try TRELLIS.SparseSubdivideBlock3d(
                channels: c, resolution: r, outChannels: c / 4, numGroups: subdivideNumGroups),
            try TRELLIS.SparseSubdivideBlock3d(
                channels: c / 4, resolution: 2 * r, outChannels: c / 8,
                numGroups: subdivideNumGroups),
        ]
        outChannels = 8 + 8 * 3 + 21 + (config.representationConfig.useColor ? 8 * 6 : 0)
        outLayer = SparseLinear(c / 8, outChannels)
        try super.init(
            inChannels: config.trunk.latentChannels, args: config.trunk, owner: "SLatMeshDecoder")
        register(list: "upsample", upsample)
        register("out_layer", outLayer)
    }

    /// `x` feats [N, latent] at the latent resolution -> raw FlexiCubes features [64N,
    /// outChannels] at 4× resolution (upstream's input to `to_representation`).
    public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor {
        try forward(x).feats
    }

    /// The network with its intermediates (trunk output, each subdivide block's output).
    public func forward(_ x: SparseTensor) throws -> (
        feats: SparseTensor, intermediates: Intermediates
    ) {
        var inter = Intermediates()
        var h = try trunk(x)
        inter.trunk = h
        for block in upsample {
            h = try block(h)
            inter.upsample.append(h)
        }
        return (outLayer(h), inter)
    }
}
