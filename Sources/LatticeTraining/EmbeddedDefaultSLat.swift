// The structured-latent half of the embedded default's recipe: the SLat VAE (encoder with the
// mesh decoder first, since geometry decides the demo's quality; then the Gaussian decoder on the
// frozen encoder, as upstream trains its radiance-field decoder), and the SLat flow on the frozen
// encoder's normalised latents, conditioned by the frozen small image encoder.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeSparse
import LatticeTensor

extension EmbeddedDefault {
    /// Model descriptors of the embedded default, by pipeline.json key (the image encoder's is
    /// `image_cond_model`).
    public static let descriptorJSON: [String: String] = [
        "sparse_structure_encoder": """
        {"name": "SparseStructureEncoder", "args": {"in_channels": 1, "latent_channels": 8,
        "num_res_blocks": 1, "num_res_blocks_middle": 1, "channels": [8, 16, 32]}}
        """,
        "sparse_structure_decoder": """
        {"name": "SparseStructureDecoder", "args": {"out_channels": 1, "latent_channels": 8,
        "num_res_blocks": 1, "num_res_blocks_middle": 1, "channels": [32, 16, 8]}}
        """,
        "sparse_structure_flow_model": """
        {"name": "SparseStructureFlowModel", "args": {"resolution": 8, "in_channels": 8,
        "out_channels": 8, "model_channels": 128, "cond_channels": 128, "num_blocks": 4,
        "num_heads": 4, "mlp_ratio": 4, "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true}}
        """,
        "slat_encoder": """
        {"name": "SLatEncoder", "args": {"resolution": 32, "in_channels": 16,
        "model_channels": 128, "latent_channels": 8, "num_blocks": 2, "num_heads": 4,
        "mlp_ratio": 2, "attn_mode": "swin", "window_size": 8, "pe_mode": "ape"}}
        """,
        "slat_decoder_mesh": """
        {"name": "SLatMeshDecoder", "args": {"resolution": 32, "model_channels": 256,
        "latent_channels": 8, "num_blocks": 1, "num_heads": 4, "mlp_ratio": 2,
        "attn_mode": "swin", "window_size": 8, "pe_mode": "ape",
        "representation_config": {"use_color": true}}}
        """,
        "slat_decoder_gs": """
        {"name": "SLatGaussianDecoder", "args": {"resolution": 32, "model_channels": 128,
        "latent_channels": 8, "num_blocks": 2, "num_heads": 4, "mlp_ratio": 2,
        "attn_mode": "swin", "window_size": 8, "pe_mode": "ape", "representation_config": {
        "lr": {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0, "_scaling": 1.0,
        "_rotation": 0.1}, "perturb_offset": true, "voxel_size": 1.5, "num_gaussians": 16,
        "2d_filter_kernel_size": 0.1, "3d_filter_kernel_size": 9e-4, "scaling_bias": 4e-3,
        "opacity_bias": 0.1, "scaling_activation": "softplus"}}}
        """,
        "slat_flow_model": """
        {"name": "SLatFlowModel", "args": {"resolution": 32, "in_channels": 8,
        "out_channels": 8, "model_channels": 128, "cond_channels": 128, "num_blocks": 4,
        "num_heads": 4, "mlp_ratio": 4, "patch_size": 2, "num_io_res_blocks": 1,
        "io_block_channels": [64], "pe_mode": "ape", "qk_rms_norm": true}}
        """,
    ]

    /// The descriptor of `key`.
    public static func descriptor(_ key: String) throws -> ModelDescriptor {
        guard let json = descriptorJSON[key] else {
            throw LatticeError(.invalidArgument, "embedded default: no model '\(key)'")
        }
        return try ModelDescriptor(json: Data(json.utf8), source: "embedded default \(key)")
    }

    /// The image encoder's descriptor (its config as a `{"name", "args"}` pair).
    public static func imageEncoderDescriptor() throws -> ModelDescriptor {
        // Sorted keys: the same config writes the same bytes in every process.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let args = try encoder.encode(imageEncoderConfig)
        return ModelDescriptor(
            name: "DinoVisionTransformer", args: args, source: "embedded default image encoder")
    }

    /// The SLat training data: procedural shapes rendered on TRELLIS's camera distribution
    /// (`views` views of `imageSize`²) with the colour-context features, at 32³.
    public static func slatSource(count: Int, views: Int = 24, imageSize: Int = 96)
        -> ProceduralSLatSource
    {
        ProceduralSLatSource(
            shapes: shapes, count: count,
            options: SLatDatasetOptions(
                views: views, imageSize: imageSize, resolution: resolution, ssaa: 2, seed: 3))
    }

    /// Builds `key`'s module and loads `weights` into it (strict).
    public static func load<T: Module>(_ key: String, weights: URL, as type: T.Type) throws -> T {
        let module = try TrellisModels.build(try descriptor(key))
        guard let typed = module as? T else {
            throw LatticeError(.invalidConfig, "embedded default \(key): not a \(T.self)")
        }
        try typed.load(try SafetensorsFile(url: weights).tensors(), source: weights.path)
        return typed
    }

    /// The encoder's posterior mean on sample `s` -> feats [N, 8] (coords as the sample's).
    public static func encodeMean(_ encoder: SLatEncoder, _ s: SLatTrainingSample) throws -> [Float]
    {
        let coords = Tensor(
            int32: s.coords.flatMap { [0, $0.x, $0.y, $0.z] }, shape: [s.coords.count, 4])
        let x = try SparseTensor(
            coords: coords, feats: Tensor(s.features, shape: [s.coords.count, s.featureChannels]))
        return try withNoGrad { try encoder(x).mean.feats.contiguous().toFloats() }
    }
}

extension EmbeddedDefault {
    /// Per-channel mean and std of the encoder's latents over `latents` (upstream stat_latent).
    public static func latentStatistics(_ latents: [[Float]], channels: Int) -> (
        mean: [Float], std: [Float]
    ) {
        var sum = [Double](repeating: 0, count: channels)
        var sq = [Double](repeating: 0, count: channels)
        var n = 0
        for l in latents {
            for i in 0..<(l.count / channels) {
                for c in 0..<channels {
                    let v = Double(l[i * channels + c])
                    sum[c] += v
                    sq[c] += v * v
                }
                n += 1
            }
        }
        let mean = sum.map { $0 / Double(max(n, 1)) }
        let std = (0..<channels).map { c in
            max((sq[c] / Double(max(n, 1)) - mean[c] * mean[c]).squareRoot(), 1e-6)
        }
        return (mean.map(Float.init), std.map(Float.init))
    }

    /// The SLat flow trainer: flow matching on normalised encoder latents of items
    /// `0..<latents.count`, conditioned on the frozen image encoder's cached tokens of one bank
    /// view per item and step (chosen by item and step, so resume is exact).
    public static func slatFlowTrainer(
        latents: [[Float]], coords: [[SIMD3<Int32>]],
        normalization: (mean: [Float], std: [Float]), tokens: CachedConditionTokens,
        options: TrainerOptions, seed: UInt64, initialWeights: URL? = nil
    ) throws -> (trainer: Trainer, flow: SLatFlowModel) {
        var generator = RandomGenerator(seed: splitMix(seed ^ 0x51A7))
        guard
            let flow = try TrellisModels.build(try descriptor("slat_flow_model")) as? SLatFlowModel
        else { throw LatticeError(.invalidConfig, "slat_flow_model is not an SLatFlowModel") }
        SLatFlowMatchingTrainer.initialize(flow, generator: &generator)
        if let initialWeights {
            try flow.load(
                try SafetensorsFile(url: initialWeights).tensors(), source: initialWeights.path)
        }
        guard tokens.bank.count >= latents.count else {
            throw LatticeError(
                .invalidArgument,
                "slat-flow: \(latents.count) shapes but the photo bank holds \(tokens.bank.count)")
        }
        let channels = normalization.mean.count
        let normalized = latents.map { l in
            l.enumerated().map { i, v in
                (v - normalization.mean[i % channels]) / normalization.std[i % channels]
            }
        }
        let box = TrainerBox()
        let objective = SLatFlowMatchingTrainer(
            denoiser: flow, datasetCount: latents.count, sigmaMin: 1e-5, pUncond: 0.1,
            tSchedule: .logitNormal(mean: 1, std: 1),
            latents: { item in (coords[item], normalized[item]) },
            condition: { items in
                tokens.tokens(items, step: box.trainer?.step ?? 0, salt: 0x5EED)
            })
        let trainer = try Trainer(objective: objective, options: options)
        box.trainer = trainer
        return (trainer, flow)
    }
}
