// microsoft/TRELLIS@6b0d647:trellis/models/sparse_structure_vae.py (dense 3-D conv VAE of the
// occupancy grid: ResBlock3d, Downsample/UpsampleBlock3d, SparseStructureEncoder/Decoder).
import LatticeNN
import LatticeTensor

extension TRELLIS {
    /// The channel norm a VAE config names: "layer" (ChannelLayerNorm32) or "group" (GroupNorm32).
    public final class NormLayer: Module, @unchecked Sendable {
        let layer: ChannelLayerNorm32?
        let group: GroupNorm32?

        public init(_ normType: String, channels: Int) throws {
            switch normType {
            case "layer":
                layer = ChannelLayerNorm32(channels)
                group = nil
            case "group":
                layer = nil
                group = GroupNorm32(channels)
            default:
                throw LatticeError(
                    .invalidConfig, "norm_type '\(normType)' (expected 'layer' or 'group')")
            }
            super.init()
            // The norm's parameters sit directly under the parent's key (e.g. `norm1.weight`).
            for (name, p) in (layer?.namedParameters() ?? group?.namedParameters() ?? []) {
                register(name, p)
            }
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            layer.map { $0(x) } ?? group.map { $0(x) } ?? x
        }
    }

    /// `h = conv2(silu(norm2(conv1(silu(norm1(x)))))) + skip(x)`.
    public final class ResBlock3d: Module, @unchecked Sendable {
        public let norm1: NormLayer
        public let norm2: NormLayer
        public let conv1: Conv3d
        public let conv2: Conv3d
        /// 1x1x1 conv when the channel count changes.
        public let skipConnection: Conv3d?

        public init(channels: Int, outChannels: Int? = nil, normType: String = "layer") throws {
            let out = outChannels ?? channels
            norm1 = try NormLayer(normType, channels: channels)
            norm2 = try NormLayer(normType, channels: out)
            conv1 = Conv3d(inChannels: channels, outChannels: out, kernelSize: 3, padding: 1)
            conv2 = Conv3d(inChannels: out, outChannels: out, kernelSize: 3, padding: 1)
            skipConnection =
                channels != out
                ? Conv3d(inChannels: channels, outChannels: out, kernelSize: 1) : nil
            super.init()
            register("norm1", norm1)
            register("norm2", norm2)
            register("conv1", conv1)
            register("conv2", conv2)
            if let skipConnection { register("skip_connection", skipConnection) }
        }

        /// [N, C, D, H, W] -> [N, C', D, H, W].
        public func callAsFunction(_ x: Tensor) -> Tensor {
            let h = conv2(norm2(conv1(norm1(x).silu())).silu())
            return h + (skipConnection.map { $0(x) } ?? x)
        }
    }

    /// Halves each spatial axis with a k2 s2 conv (`conv`).
    public final class DownsampleBlock3d: Module, @unchecked Sendable {
        public let conv: Conv3d

        public init(inChannels: Int, outChannels: Int) {
            conv = Conv3d(
                inChannels: inChannels, outChannels: outChannels, kernelSize: 2, stride: 2)
            super.init()
            register("conv", conv)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
    }

    /// Doubles each spatial axis: conv to 8x channels, then `pixel_shuffle_3d`.
    public final class UpsampleBlock3d: Module, @unchecked Sendable {
        public let conv: Conv3d

        public init(inChannels: Int, outChannels: Int) {
            conv = Conv3d(
                inChannels: inChannels, outChannels: outChannels * 8, kernelSize: 3, padding: 1)
            super.init()
            register("conv", conv)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { pixelShuffle3d(conv(x), factor: 2) }
    }

    /// Constructor kwargs shared by the encoder and decoder, keyed as upstream.
    public struct SparseStructureVAEConfig: Codable, Sendable {
        public var inChannels: Int?
        public var outChannels: Int?
        public var latentChannels: Int
        public var numResBlocks: Int
        public var channels: [Int]
        public var numResBlocksMiddle = 2
        public var normType = "layer"
        public var useFp16 = false
        /// Upstream's gradient-checkpointing switch; memory only, the math is unchanged.
        public var useCheckpoint = false

        enum CodingKeys: String, CodingKey {
            case inChannels = "in_channels"
            case outChannels = "out_channels"
            case latentChannels = "latent_channels"
            case numResBlocks = "num_res_blocks"
            case channels
            case numResBlocksMiddle = "num_res_blocks_middle"
            case normType = "norm_type"
            case useFp16 = "use_fp16"
            case useCheckpoint = "use_checkpoint"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            useCheckpoint = try c.decodeIfPresent(Bool.self, forKey: .useCheckpoint) ?? false
            inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels)
            outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels)
            latentChannels = try c.decode(Int.self, forKey: .latentChannels)
            numResBlocks = try c.decode(Int.self, forKey: .numResBlocks)
            channels = try c.decode([Int].self, forKey: .channels)
            numResBlocksMiddle = try c.decodeIfPresent(Int.self, forKey: .numResBlocksMiddle) ?? 2
            normType = try c.decodeIfPresent(String.self, forKey: .normType) ?? "layer"
            useFp16 = try c.decodeIfPresent(Bool.self, forKey: .useFp16) ?? false
        }
    }
}

/// Occupancy grid [B, in, R, R, R] -> latent mean / logvar [B, latent, R/2^k, ...].
public final class SparseStructureEncoder: Module, @unchecked Sendable {
    public typealias Config = TRELLIS.SparseStructureVAEConfig

    public let inputLayer: Conv3d
    /// Res blocks and downsamples in upstream order (`blocks.<i>`).
    public let blocks: [Module]
    public let middleBlock: [TRELLIS.ResBlock3d]
    public let outNorm: TRELLIS.NormLayer
    public let outConv: Conv3d

    public init(_ config: Config) throws {
        guard let inChannels = config.inChannels, let first = config.channels.first else {
            throw LatticeError(
                .invalidConfig, "SparseStructureEncoder needs in_channels and non-empty channels")
        }
        inputLayer = Conv3d(inChannels: inChannels, outChannels: first, kernelSize: 3, padding: 1)
        var list: [Module] = []
        for (i, ch) in config.channels.enumerated() {
            for _ in 0..<config.numResBlocks {
                list.append(try TRELLIS.ResBlock3d(channels: ch, normType: config.normType))
            }
            if i < config.channels.count - 1 {
                list.append(
                    TRELLIS.DownsampleBlock3d(inChannels: ch, outChannels: config.channels[i + 1]))
            }
        }
        blocks = list
        let last = config.channels[config.channels.count - 1]
        middleBlock = try (0..<config.numResBlocksMiddle).map { _ in
            try TRELLIS.ResBlock3d(channels: last, normType: config.normType)
        }
        outNorm = try TRELLIS.NormLayer(config.normType, channels: last)
        outConv = Conv3d(
            inChannels: last, outChannels: 2 * config.latentChannels, kernelSize: 3, padding: 1)
        super.init()
        register("input_layer", inputLayer)
        register(list: "blocks", blocks)
        register(list: "middle_block", middleBlock)
        register("out_layer.0", outNorm)
        register("out_layer.2", outConv)
    }

    /// `x`: [B, in, R, R, R] -> (mean, logvar), each [B, latent, r, r, r]. The posterior is not
    /// sampled (z = mean), as the pipelines call it.
    public func callAsFunction(_ x: Tensor) -> (mean: Tensor, logvar: Tensor) {
        var h = inputLayer(x)
        for block in blocks {
            if let r = block as? TRELLIS.ResBlock3d {
                h = r(h)
            } else if let d = block as? TRELLIS.DownsampleBlock3d {
                h = d(h)
            }
        }
        for block in middleBlock { h = block(h) }
        let out = outConv(outNorm(h).silu())  // [B, 2 latent, r, r, r]
        let parts = out.chunk(2, axis: 1)
        return (parts[0], parts[1])
    }
}

/// Latent [B, latent, r, r, r] -> occupancy logits [B, out, R, R, R] (occupied iff logit > 0).
public final class SparseStructureDecoder: Module, @unchecked Sendable {
    public typealias Config = TRELLIS.SparseStructureVAEConfig

    public let inputLayer: Conv3d
    public let middleBlock: [TRELLIS.ResBlock3d]
    /// Res blocks and upsamples in upstream order (`blocks.<i>`).
    public let blocks: [Module]
    public let outNorm: TRELLIS.NormLayer
    public let outConv: Conv3d
    /// Doublings of the grid (output R = latent r · 2^upsamplings).
    public let upsamplings: Int

    public init(_ config: Config) throws {
        guard let outChannels = config.outChannels, let first = config.channels.first else {
            throw LatticeError(
                .invalidConfig, "SparseStructureDecoder needs out_channels and non-empty channels")
        }
        inputLayer = Conv3d(
            inChannels: config.latentChannels, outChannels: first, kernelSize: 3, padding: 1)
        middleBlock = try (0..<config.numResBlocksMiddle).map { _ in
            try TRELLIS.ResBlock3d(channels: first, normType: config.normType)
        }
        var list: [Module] = []
        for (i, ch) in config.channels.enumerated() {
            for _ in 0..<config.numResBlocks {
                list.append(try TRELLIS.ResBlock3d(channels: ch, normType: config.normType))
            }
            if i < config.channels.count - 1 {
                list.append(
                    TRELLIS.UpsampleBlock3d(inChannels: ch, outChannels: config.channels[i + 1]))
            }
        }
        blocks = list
        let last = config.channels[config.channels.count - 1]
        outNorm = try TRELLIS.NormLayer(config.normType, channels: last)
        outConv = Conv3d(inChannels: last, outChannels: outChannels, kernelSize: 3, padding: 1)
        upsamplings = config.channels.count - 1
        super.init()
        register("input_layer", inputLayer)
        register(list: "middle_block", middleBlock)
        register(list: "blocks", blocks)
        register("out_layer.0", outNorm)
        register("out_layer.2", outConv)
    }

    /// `z`: [B, latent, r, r, r] -> logits [B, out, R, R, R].
    public func callAsFunction(_ z: Tensor) -> Tensor {
        var h = inputLayer(z)
        for block in middleBlock { h = block(h) }
        for block in blocks {
            if let r = block as? TRELLIS.ResBlock3d {
                h = r(h)
            } else if let u = block as? TRELLIS.UpsampleBlock3d {
                h = u(h)
            }
        }
        return outConv(outNorm(h).silu())
    }

    /// Occupied voxels of logits [B, 1, R, R, R] as int32 rows (b, x, y, z) in row-major order,
    /// as `argwhere(logits > 0)[:, [0, 2, 3, 4]]` in the image-to-3D pipeline.
    public static func occupiedCoordinates(_ logits: Tensor) -> Tensor {
        let (b, c, d, h, w) = (
            logits.shape[0], logits.shape[1], logits.shape[2], logits.shape[3], logits.shape[4]
        )
        let v = logits.toFloats()
        var rows: [Int32] = []
        var i = 0
        for bi in 0..<b {
            for _ in 0..<c {
                for x in 0..<d {
                    for y in 0..<h {
                        for z in 0..<w {
                            if v[i] > 0 { rows += [Int32(bi), Int32(x), Int32(y), Int32(z)] }
                            i += 1
                        }
                    }
                }
            }
        }
        return Tensor(int32: rows, shape: [rows.count / 4, 4])  // [N, 4]
    }
}
