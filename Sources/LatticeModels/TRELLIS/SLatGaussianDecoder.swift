// microsoft/TRELLIS@6b0d647:trellis/models/structured_latent_vae/decoder_gs.py
// (SLatGaussianDecoder): SLat [N, latent] -> per-voxel Gaussians (Gaussian in LatticeRender).
import Foundation
import LatticeNN
import LatticeRender
import LatticeSparse
import LatticeTensor

/// The SLat Gaussian decoder: trunk, `F.layer_norm` (eps 1e-5), `out_layer` (C -> G·14), then
/// `to_representation` makes one `Gaussian` per batch item, voxel-major then Gaussian k.
public final class SLatGaussianDecoder: TRELLIS.SparseTransformerBase, @unchecked Sendable {
    /// Upstream `representation_config` (all keys but `2d_filter_kernel_size` are required).
    public struct RepresentationConfig: SLatRepresentationConfig {
        public static let owner = "SLatGaussianDecoder"
        /// Per-field multipliers of the raw outputs: `_xyz`, `_features_dc`, `_opacity`,
        /// `_scaling`, `_rotation`.
        public var lr: [String: Double]
        public var perturbOffset: Bool
        /// Offsets reach ±voxel_size/2 voxels.
        public var voxelSize: Double
        public var numGaussians: Int
        /// Used by the renderer, not the decoder.
        public var filter2DKernelSize: Double?
        public var filter3DKernelSize: Double
        public var scalingBias: Double
        public var opacityBias: Double
        public var scalingActivation: String

        static let keys = [
            "lr", "perturb_offset", "voxel_size", "num_gaussians", "2d_filter_kernel_size",
            "3d_filter_kernel_size", "scaling_bias", "opacity_bias", "scaling_activation",
        ]
        static let fields = ["_xyz", "_features_dc", "_scaling", "_rotation", "_opacity"]

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: SLatConfigKey.self)
            let owner = "SLatGaussianDecoder representation_config"
            try c.rejectUnknown(Self.keys, owner: owner)
            lr = try c.value("lr")
            for f in Self.fields where lr[f] == nil {
                throw LatticeError(.invalidConfig, "\(owner): lr has no entry for '\(f)'")
            }
            perturbOffset = try c.value("perturb_offset")
            voxelSize = try c.value("voxel_size")
            numGaussians = try c.value("num_gaussians")
            filter2DKernelSize = try c.optional("2d_filter_kernel_size")
            filter3DKernelSize = try c.value("3d_filter_kernel_size")
            scalingBias = try c.value("scaling_bias")
            opacityBias = try c.value("opacity_bias")
            scalingActivation = try c.value("scaling_activation")
            guard Gaussian.ScalingActivation(rawValue: scalingActivation) != nil else {
                throw LatticeError(
                    .invalidConfig,
                    "\(owner): scaling_activation '\(scalingActivation)' (expected exp or softplus)"
                )
            }
            guard numGaussians > 0, voxelSize > 0 else {
                throw LatticeError(
                    .invalidConfig,
                    "\(owner): num_gaussians \(numGaussians) and voxel_size \(voxelSize) must be positive"
                )
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: SLatConfigKey.self)
            try c.encode(lr, forKey: .init("lr"))
            try c.encode(perturbOffset, forKey: .init("perturb_offset"))
            try c.encode(voxelSize, forKey: .init("voxel_size"))
            try c.encode(numGaussians, forKey: .init("num_gaussians"))
            try c.encodeIfPresent(filter2DKernelSize, forKey: .init("2d_filter_kernel_size"))
            try c.encode(filter3DKernelSize, forKey: .init("3d_filter_kernel_size"))
            try c.encode(scalingBias, forKey: .init("scaling_bias"))
            try c.encode(opacityBias, forKey: .init("opacity_bias"))
            try c.encode(scalingActivation, forKey: .init("scaling_activation"))
        }

        /// The released decoder's values with `numGaussians` Gaussians per voxel.
        public init(numGaussians: Int = 32) {
            lr = ["_xyz": 1, "_features_dc": 1, "_opacity": 1, "_scaling": 1, "_rotation": 0.1]
            perturbOffset = true
            voxelSize = 1.5
            self.numGaussians = numGaussians
            filter2DKernelSize = 0.1
            filter3DKernelSize = 9e-4
            scalingBias = 4e-3
            opacityBias = 0.1
            scalingActivation = "softplus"
        }
    }

    /// Constructor kwargs, keyed as `ckpts/slat_dec_gs_*.json` `args`.
    public typealias Config = TRELLIS.SLatDecoderConfig<RepresentationConfig>

    public let config: Config
    public let outLayer: SparseLinear
    /// Buffer `offset_perturbation` [G, 3]: atanh((hammersley(3, k, G)·2 - 1) / voxel_size).
    public let offsetPerturbation: Parameter
    /// Channel range of each field in the raw output (upstream `layout`).
    public let layout: [String: Range<Int>]
    /// Raw output channels: G·(3 + 3 + 3 + 4 + 1).
    public let outChannels: Int

    public init(_ config: Config) throws {
        self.config = config
        let rep = config.representationConfig
        let g = rep.numGaussians
        let (ranges, total) = SLatLayout.ranges([
            ("_xyz", g * 3), ("_features_dc", g * 3), ("_scaling", g * 3), ("_rotation", g * 4),
            ("_opacity", g),
        ])
        layout = ranges
        outChannels = total
        outLayer = SparseLinear(config.trunk.modelChannels, total)
        offsetPerturbation = Parameter(
            SLatGaussianDecoder.perturbation(count: g, voxelSize: rep.voxelSize), isBuffer: true)
        try super.init(
            inChannels: config.trunk.latentChannels, args: config.trunk,
            owner: "SLatGaussianDecoder")
        register("out_layer", outLayer)
        register("offset_perturbation", offsetPerturbation)
    }

    /// Upstream `_build_perturbation` in float32: [G, 3].
    public static func perturbation(count g: Int, voxelSize: Double) -> Tensor {
        func radicalInverse(_ base: Int, _ n: Int) -> Double {
            let inv = 1.0 / Double(base)
            var (val, invN, n) = (0.0, inv, n)
            while n > 0 {
                val += Double(n % base) * invN
                n /= base
                invN *= inv
            }
            return val
        }
        var v: [Float] = []
        for i in 0..<g {
            for h in [Double(i) / Double(g), radicalInverse(2, i), radicalInverse(3, i)] {
                v.append(Foundation.atanh((Float(h) * 2 - 1) / Float(voxelSize)))
            }
        }
        return Tensor(v, shape: [g, 3])  // [G, 3]
    }

    /// The network: `x` feats [N, latent] -> raw out_layer feats [N, G·14] on the same sites.
    public func network(
        _ x: SparseTensor, blockOutput: ((Int, SparseTensor) -> Void)? = nil
    ) throws -> SparseTensor {
        let h = try trunk(x, blockOutput: blockOutput)
        return outLayer(h.replacing(feats: layerNorm(h.feats, weight: nil, bias: nil, eps: 1e-5)))
    }

    /// Upstream `forward`: one `Gaussian` per batch item.
    public func callAsFunction(_ x: SparseTensor) throws -> [Gaussian] {
        try toRepresentation(try network(x))
    }

    /// Upstream `to_representation`: `_xyz` = (c + 0.5)/R + tanh(raw·lr + perturbation)/R·0.5·
    /// voxel_size, the other fields raw·lr; Gaussians voxel-major, then k.
    public func toRepresentation(_ x: SparseTensor) throws -> [Gaussian] {
        let rep = config.representationConfig
        let g = rep.numGaussians
        let r = config.trunk.resolution
        guard x.feats.rank == 2, x.channels == outChannels else {
            throw LatticeError(
                .shapeMismatch,
                "SLatGaussianDecoder.toRepresentation: feats \(x.feats.shape), expected [N, \(outChannels)]"
            )
        }
        guard let activation = Gaussian.ScalingActivation(rawValue: rep.scalingActivation) else {
            throw LatticeError(
                .invalidConfig, "scaling_activation '\(rep.scalingActivation)'")
        }
        func lr(_ k: String) -> Float { Float(rep.lr[k] ?? 1) }
        var out: [Gaussian] = []
        for b in 0..<x.batchSize {
            let rows = x.layout(b)
            let n = rows.count
            let feats = x.feats.slice(0, rows.lowerBound, rows.upperBound)  // [n, C]
            func field(_ k: String, _ shape: [Int]) -> Tensor {
                let range = layout[k] ?? 0..<0
                return feats.slice(1, range.lowerBound, range.upperBound).reshape([n] + shape)
            }
            let gauss = try Gaussian(
                aabb: [-0.5, -0.5, -0.5, 1, 1, 1], shDegree: 0,
                minimumKernelSize: Float(rep.filter3DKernelSize),
                scalingBias: Float(rep.scalingBias), opacityBias: Float(rep.opacityBias),
                scalingActivation: activation)
            let centres = SLatLayout.voxelCentres(x, rows: rows, resolution: r)  // [n, 3]
            var offset = field("_xyz", [g, 3]) * lr("_xyz")  // [n, G, 3]
            if rep.perturbOffset { offset = offset + offsetPerturbation.value.float() }
            // Same operation order as upstream: tanh / R * 0.5 * voxel_size, each in float32.
            offset = offset.tanh() / Float(r) * 0.5 * Float(rep.voxelSize)
            gauss.xyz = (centres.unsqueeze(1) + offset).reshape([n * g, 3])  // [n G, 3]
            gauss.featuresDC = (field("_features_dc", [g, 1, 3]) * lr("_features_dc"))
                .reshape([n * g, 1, 3])
            gauss.scaling = (field("_scaling", [g, 3]) * lr("_scaling")).reshape([n * g, 3])
            gauss.rotation = (field("_rotation", [g, 4]) * lr("_rotation")).reshape([n * g, 4])
            gauss.opacity = (field("_opacity", [g, 1]) * lr("_opacity")).reshape([n * g, 1])
            out.append(gauss)
        }
        return out
    }
}
