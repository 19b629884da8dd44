// microsoft/TRELLIS@6b0d647:trellis/models/structured_latent_vae/base.py (block_attn_config,
// SparseTransformerBase): the shared SLat VAE trunk, input_layer + APE + sparse transformer
// blocks, and the upstream-keyed constructor arguments every SLat VAE model shares.
import Foundation
import LatticeNN
import LatticeSparse
import LatticeTensor

/// A JSON object key for configs decoded key by key (so unknown keys can be named).
struct SLatConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where K == SLatConfigKey {
    /// Throws `invalidConfig` naming the first key not in `allowed` (upstream would raise a
    /// TypeError for an unexpected keyword argument).
    func rejectUnknown(_ allowed: [String], owner: String) throws {
        for key in allKeys.map(\.stringValue).sorted() where !allowed.contains(key) {
            throw LatticeError(
                .invalidConfig,
                "\(owner): unknown config field '\(key)' (expected one of: \(allowed.joined(separator: ", ")))"
            )
        }
    }

    func value<T: Decodable>(_ key: String, _ type: T.Type = T.self) throws -> T {
        try decode(T.self, forKey: SLatConfigKey(key))
    }

    func optional<T: Decodable>(_ key: String, _ type: T.Type = T.self) throws -> T? {
        try decodeIfPresent(T.self, forKey: SLatConfigKey(key))
    }
}

extension TRELLIS {
    /// The `SparseTransformerBase` keyword arguments every SLat VAE model takes (plus
    /// `resolution` and `latent_channels`), keyed as upstream; defaults are the subclasses'.
    public struct SLatTrunkArgs: Sendable, Equatable {
        public var resolution: Int
        public var modelChannels: Int
        public var latentChannels: Int
        public var numBlocks: Int
        public var numHeads: Int?
        public var numHeadChannels: Int? = 64
        public var mlpRatio: Double = 4
        /// "full" or "swin" ("shift_window", "shift_sequence", "shift_order" need serialized
        /// attention, which no released model uses).
        public var attnMode = "swin"
        public var windowSize: Int? = 8
        public var peMode = "ape"
        public var useFp16 = false
        public var useCheckpoint = false
        public var qkRmsNorm = false

        /// Upstream keyword names of these arguments.
        public static let keys = [
            "resolution", "model_channels", "latent_channels", "num_blocks", "num_heads",
            "num_head_channels", "mlp_ratio", "attn_mode", "window_size", "pe_mode", "use_fp16",
            "use_checkpoint", "qk_rms_norm",
        ]

        public init(
            resolution: Int, modelChannels: Int, latentChannels: Int, numBlocks: Int,
            numHeads: Int? = nil, windowSize: Int? = 8, attnMode: String = "swin"
        ) {
            self.resolution = resolution
            self.modelChannels = modelChannels
            self.latentChannels = latentChannels
            self.numBlocks = numBlocks
            self.numHeads = numHeads
            self.windowSize = windowSize
            self.attnMode = attnMode
        }

        init(_ c: KeyedDecodingContainer<SLatConfigKey>) throws {
            resolution = try c.value("resolution")
            modelChannels = try c.value("model_channels")
            latentChannels = try c.value("latent_channels")
            numBlocks = try c.value("num_blocks")
            numHeads = try c.optional("num_heads")
            // An explicit null keeps upstream's None.
            numHeadChannels =
                c.contains(SLatConfigKey("num_head_channels"))
                ? try c.optional("num_head_channels") : 64
            mlpRatio = try c.optional("mlp_ratio") ?? 4
            attnMode = try c.optional("attn_mode") ?? "swin"
            windowSize =
                c.contains(SLatConfigKey("window_size")) ? try c.optional("window_size") : 8
            peMode = try c.optional("pe_mode") ?? "ape"
            useFp16 = try c.optional("use_fp16") ?? false
            useCheckpoint = try c.optional("use_checkpoint") ?? false
            qkRmsNorm = try c.optional("qk_rms_norm") ?? false
        }

        func encode(to c: inout KeyedEncodingContainer<SLatConfigKey>) throws {
            try c.encode(resolution, forKey: .init("resolution"))
            try c.encode(modelChannels, forKey: .init("model_channels"))
            try c.encode(latentChannels, forKey: .init("latent_channels"))
            try c.encode(numBlocks, forKey: .init("num_blocks"))
            try c.encodeIfPresent(numHeads, forKey: .init("num_heads"))
            try c.encodeIfPresent(numHeadChannels, forKey: .init("num_head_channels"))
            try c.encode(mlpRatio, forKey: .init("mlp_ratio"))
            try c.encode(attnMode, forKey: .init("attn_mode"))
            try c.encodeIfPresent(windowSize, forKey: .init("window_size"))
            try c.encode(peMode, forKey: .init("pe_mode"))
            try c.encode(useFp16, forKey: .init("use_fp16"))
            try c.encode(useCheckpoint, forKey: .init("use_checkpoint"))
            try c.encode(qkRmsNorm, forKey: .init("qk_rms_norm"))
        }

        /// Heads: `num_heads`, or `model_channels / num_head_channels`.
        public func heads(owner: String) throws -> Int {
            if let numHeads { return numHeads }
            guard let d = numHeadChannels, d > 0, modelChannels % d == 0 else {
                throw LatticeError(
                    .invalidConfig,
                    "\(owner): num_heads is null and num_head_channels \(numHeadChannels.map(String.init) ?? "null") does not divide model_channels \(modelChannels)"
                )
            }
            return modelChannels / d
        }

        /// Upstream `block_attn_config`: the attention mode of block `i`.
        public func attentionMode(block i: Int, owner: String) throws -> SparseAttentionMode {
            switch attnMode {
            case "full": return .full
            case "swin":
                guard let ws = windowSize, ws > 0 else {
                    throw LatticeError(
                        .invalidConfig, "\(owner): attn_mode 'swin' needs a positive window_size")
                }
                return .windowed(size: ws, shift: ws / 2 * (i % 2))
            case "shift_window", "shift_sequence", "shift_order":
                throw LatticeError(
                    .unsupported,
                    "\(owner): attn_mode '\(attnMode)' needs serialized attention, which is not ported (released models use 'swin')"
                )
            default:
                throw LatticeError(
                    .invalidConfig,
                    "\(owner): attn_mode '\(attnMode)' (expected full, shift_window, shift_sequence, shift_order or swin)"
                )
            }
        }
    }

    /// Upstream `SparseTransformerBase`: `input_layer` (SparseLinear in -> C), the absolute
    /// position embedding of the integer voxel coordinates, and `blocks` (SparseTransformerBlock
    /// with the `block_attn_config` schedule). With `use_fp16` the torso's fp16 weights are
    /// widened and computed in float32 (upstream runs it in fp16; the difference is fp16 rounding).
    open class SparseTransformerBase: Module, @unchecked Sendable {
        public let trunkArgs: SLatTrunkArgs
        public let numHeads: Int
        public let posEmbedder: AbsolutePositionEmbedder?
        public let inputLayer: SparseLinear
        public let blocks: [SparseTransformerBlock]

        public init(inChannels: Int, args: SLatTrunkArgs, owner: String) throws {
            guard args.peMode == "ape" else {
                throw LatticeError(
                    .unsupported, "\(owner): pe_mode '\(args.peMode)' (only 'ape' is ported)")
            }
            trunkArgs = args
            let heads = try args.heads(owner: owner)
            numHeads = heads
            guard heads > 0, args.modelChannels % heads == 0 else {
                throw LatticeError(
                    .invalidConfig,
                    "\(owner): model_channels \(args.modelChannels) not divisible by \(heads) heads"
                )
            }
            posEmbedder = AbsolutePositionEmbedder(.init(channels: args.modelChannels))
            inputLayer = SparseLinear(inChannels, args.modelChannels)
            blocks = try (0..<args.numBlocks).map { i in
                SparseTransformerBlock(
                    channels: args.modelChannels, numHeads: heads,
                    mlpRatio: args.mlpRatio, mode: try args.attentionMode(block: i, owner: owner),
                    qkRMSNorm: args.qkRmsNorm)
            }
            super.init()
            register("input_layer", inputLayer)
            register(list: "blocks", blocks)
        }

        /// The trunk: `x` feats [N, in] -> [N, C] after the last block. `blockOutput` sees each
        /// block's output (for debugging and fixtures).
        public func trunk(
            _ x: SparseTensor, blockOutput: ((Int, SparseTensor) -> Void)? = nil
        ) throws -> SparseTensor {
            guard x.feats.rank == 2, x.channels == inputLayer.weight.shape[1] else {
                throw LatticeError(
                    .shapeMismatch,
                    "\(type(of: self)): feats \(x.feats.shape), expected [N, \(inputLayer.weight.shape[1])]"
                )
            }
            var h = inputLayer(x)  // [N, C]
            if let posEmbedder {
                let xyz = x.coords.slice(1, 1, 4)  // [N, 3] integer voxel coordinates
                h = h.replacing(feats: h.feats + posEmbedder(xyz))
            }
            for (i, block) in blocks.enumerated() {
                h = try block(h)
                blockOutput?(i, h)
            }
            return h
        }
    }
}

/// Helpers shared by the SLat decoders' `to_representation`.
enum SLatLayout {
    /// Consecutive channel ranges for named fields of the given sizes.
    static func ranges(_ sizes: [(String, Int)]) -> (ranges: [String: Range<Int>], total: Int) {
        var out: [String: Range<Int>] = [:]
        var start = 0
        for (name, size) in sizes {
            out[name] = start..<(start + size)
            start += size
        }
        return (out, start)
    }

    /// (coords[:, 1:] + 0.5) / resolution for the rows `rows`, float32 [n, 3].
    static func voxelCentres(_ x: SparseTensor, rows: Range<Int>, resolution: Int) -> Tensor {
        let c = x.coords.toInts()
        var v = [Float](repeating: 0, count: rows.count * 3)
        for (j, r) in rows.enumerated() {
            for a in 0..<3 { v[3 * j + a] = (Float(c[4 * r + 1 + a]) + 0.5) / Float(resolution) }
        }
        return Tensor(v, shape: [rows.count, 3])  // [n, 3]
    }
}

/// The `representation_config` of one SLat decoder, naming its owner class in errors.
public protocol SLatRepresentationConfig: Codable, Sendable, Equatable {
    /// The upstream decoder class these settings belong to.
    static var owner: String { get }
}

extension TRELLIS {
    /// A SLat decoder's constructor kwargs, keyed as its `ckpts/slat_dec_*.json` `args`: the
    /// shared trunk arguments plus `representation_config`.
    public struct SLatDecoderConfig<Representation: SLatRepresentationConfig>: Codable, Sendable,
        Equatable
    {
        /// Every upstream keyword argument (the JSON keys this config accepts).
        public static var argumentKeys: [String] {
            TRELLIS.SLatTrunkArgs.keys + ["representation_config"]
        }

        public var trunk: TRELLIS.SLatTrunkArgs
        public var representationConfig: Representation

        public init(trunk: TRELLIS.SLatTrunkArgs, representationConfig: Representation) {
            self.trunk = trunk
            self.representationConfig = representationConfig
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: SLatConfigKey.self)
            try c.rejectUnknown(Self.argumentKeys, owner: Representation.owner)
            trunk = try TRELLIS.SLatTrunkArgs(c)
            representationConfig = try c.value("representation_config")
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: SLatConfigKey.self)
            try trunk.encode(to: &c)
            try c.encode(representationConfig, forKey: .init("representation_config"))
        }
    }
}
