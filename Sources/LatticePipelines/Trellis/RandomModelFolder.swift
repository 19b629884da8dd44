// Writes a complete TRELLIS-image model folder (pipeline.json, ckpts/*.json + *.safetensors, the
// image conditioner) with seeded random weights: the tiny preset runs the whole pipeline in
// seconds (CI's end-to-end check), the image-large preset has the released architectures (memory
// and speed measurements without downloading anything).
import Foundation
import LatticeIO
import LatticeModels

/// Model folders with random weights in the upstream layout.
public enum RandomModelFolder {
    /// Architecture presets.
    public enum Preset: String, Sendable, CaseIterable {
        /// A few-channel TRELLIS on a 16³ grid (4³ latent); the mesh decoder keeps 256 channels
        /// because its GroupNorm(32) needs 32 | C/8.
        case tiny
        /// The released TRELLIS-image-large architectures (trellis-spec §2), random weights.
        case imageLarge = "image-large"
    }

    /// The `ckpts/<name>.json` descriptors of a preset, by pipeline.json model key.
    static func descriptors(_ preset: Preset) -> [(key: String, name: String, json: String)] {
        switch preset {
        case .tiny:
            let trunk = """
                "resolution": 16, "model_channels": 32, "latent_channels": 8, "num_blocks": 2,
                "num_heads": 2, "mlp_ratio": 2, "attn_mode": "swin", "window_size": 4,
                "pe_mode": "ape", "use_fp16": false
                """
            return [
                (
                    "sparse_structure_flow_model", "ss_flow_img_dit_tiny",
                    """
                    {"name": "SparseStructureFlowModel", "args": {"resolution": 4, "in_channels": 8,
                    "out_channels": 8, "model_channels": 32, "cond_channels": 32, "num_blocks": 2,
                    "num_heads": 2, "mlp_ratio": 2, "patch_size": 1, "pe_mode": "ape",
                    "qk_rms_norm": true, "use_fp16": false}}
                    """
                ),
                (
                    "sparse_structure_decoder", "ss_dec_conv3d_tiny",
                    """
                    {"name": "SparseStructureDecoder", "args": {"out_channels": 1,
                    "latent_channels": 8, "num_res_blocks": 1, "num_res_blocks_middle": 1,
                    "channels": [16, 8, 8], "use_fp16": false}}
                    """
                ),
                (
                    "slat_flow_model", "slat_flow_img_dit_tiny",
                    """
                    {"name": "SLatFlowModel", "args": {"resolution": 16, "in_channels": 8,
                    "out_channels": 8, "model_channels": 32, "cond_channels": 32, "num_blocks": 2,
                    "num_heads": 2, "mlp_ratio": 2, "patch_size": 2, "num_io_res_blocks": 1,
                    "io_block_channels": [16], "pe_mode": "ape", "qk_rms_norm": true,
                    "use_fp16": false}}
                    """
                ),
                (
                    "slat_decoder_gs", "slat_dec_gs_tiny",
                    gaussianDecoder(trunk: trunk, gaussians: 4)
                ),
                (
                    "slat_decoder_mesh", "slat_dec_mesh_tiny",
                    """
                    {"name": "SLatMeshDecoder", "args": {"resolution": 16, "model_channels": 256,
                    "latent_channels": 8, "num_blocks": 1, "num_heads": 4, "mlp_ratio": 1,
                    "attn_mode": "swin", "window_size": 4, "pe_mode": "ape", "use_fp16": false,
                    "representation_config": {"use_color": true}}}
                    """
                ),
                (
                    "image_cond_model", "image_cond_tiny",
                    """
                    {"name": "DinoVisionTransformer", "args": {"img_size": 56, "patch_size": 14,
                    "embed_dim": 32, "depth": 2, "num_heads": 2, "init_values": 1.0,
                    "block_chunks": 0, "num_register_tokens": 4, "interpolate_antialias": true,
                    "interpolate_offset": 0.0}}
                    """
                ),
                // Last, so the other models' random weights are unchanged. The encoder reads the
                // 16 colour-context features of `lattice data build` (evaluation encodes with it).
                (
                    "slat_encoder", "slat_enc_tiny",
                    """
                    {"name": "SLatEncoder", "args": {\(trunk), "in_channels": 16}}
                    """
                ),
            ]
        case .imageLarge:
            let trunk = """
                "resolution": 64, "model_channels": 768, "latent_channels": 8, "num_blocks": 12,
                "num_heads": 12, "mlp_ratio": 4, "attn_mode": "swin", "window_size": 8,
                "pe_mode": "ape", "use_fp16": true
                """
            return [
                (
                    "sparse_structure_flow_model", "ss_flow_img_dit_L_16l8_fp16",
                    """
                    {"name": "SparseStructureFlowModel", "args": {"resolution": 16,
                    "in_channels": 8, "out_channels": 8, "model_channels": 1024,
                    "cond_channels": 1024, "num_blocks": 24, "num_heads": 16, "mlp_ratio": 4,
                    "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true, "use_fp16": true}}
                    """
                ),
                (
                    "sparse_structure_decoder", "ss_dec_conv3d_16l8_fp16",
                    """
                    {"name": "SparseStructureDecoder", "args": {"out_channels": 1,
                    "latent_channels": 8, "num_res_blocks": 2, "num_res_blocks_middle": 2,
                    "channels": [512, 128, 32], "use_fp16": true}}
                    """
                ),
                (
                    "slat_flow_model", "slat_flow_img_dit_L_64l8p2_fp16",
                    """
                    {"name": "SLatFlowModel", "args": {"resolution": 64, "in_channels": 8,
                    "out_channels": 8, "model_channels": 1024, "cond_channels": 1024,
                    "num_blocks": 24, "num_heads": 16, "mlp_ratio": 4, "patch_size": 2,
                    "num_io_res_blocks": 2, "io_block_channels": [128], "pe_mode": "ape",
                    "qk_rms_norm": true, "use_fp16": true}}
                    """
                ),
                (
                    "slat_decoder_gs", "slat_dec_gs_swin8_B_64l8gs32_fp16",
                    gaussianDecoder(trunk: trunk, gaussians: 32)
                ),
                (
                    "slat_decoder_mesh", "slat_dec_mesh_swin8_B_64l8m256c_fp16",
                    """
                    {"name": "SLatMeshDecoder", "args": {\(trunk), "representation_config":
                    {"use_color": true}}}
                    """
                ),
                (
                    "image_cond_model", "dinov2_vitl14_reg",
                    """
                    {"name": "DinoVisionTransformer", "args": {"img_size": 518, "patch_size": 14,
                    "embed_dim": 1024, "depth": 24, "num_heads": 16, "init_values": 1.0,
                    "block_chunks": 0, "num_register_tokens": 4, "interpolate_antialias": true,
                    "interpolate_offset": 0.0}}
                    """
                ),
            ]
        }
    }

    /// The released Gaussian decoder's `args` JSON around `trunk` with `gaussians` per voxel.
    static func gaussianDecoder(trunk: String, gaussians: Int) -> String {
        """
        {"name": "SLatGaussianDecoder", "args": {\(trunk), "representation_config": {
        "lr": {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0, "_scaling": 1.0,
        "_rotation": 0.1}, "perturb_offset": true, "voxel_size": 1.5,
        "num_gaussians": \(gaussians), "2d_filter_kernel_size": 0.1,
        "3d_filter_kernel_size": 9e-4, "scaling_bias": 4e-3, "opacity_bias": 0.1,
        "scaling_activation": "softplus"}}}
        """
    }

    /// The pipeline.json of a preset (upstream's sampler settings and SLat normalisation).
    static func pipelineJSON(models: [(key: String, name: String)], conditioner: String) -> String {
        let entries = models.map { "\"\($0.key)\": \"ckpts/\($0.name)\"" }.joined(separator: ", ")
        let sampler = """
            {"name": "FlowEulerGuidanceIntervalSampler", "args": {"sigma_min": 1e-5},
            "params": {"steps": 25, "cfg_strength": 5.0, "cfg_interval": [0.5, 1.0], "rescale_t": 3.0}}
            """
        return """
            {"name": "TrellisImageTo3DPipeline", "args": {"models": {\(entries)},
            "sparse_structure_sampler": \(sampler), "slat_sampler": \(sampler),
            "slat_normalization": {"mean": [-2.1687545776367188, -0.004347046371549368,
            -0.13352349400520325, -0.08418072760105133, -0.5271206498146057, 0.7238689064979553,
            -1.1414450407028198, 1.2039363384246826], "std": [2.377650737762451,
            2.386378288269043, 2.124418020248413, 2.1748552322387695, 2.663944721221924,
            2.371192216873169, 2.6217446327209473, 2.684523105621338]},
            "image_cond_model": "\(conditioner)"}}
            """
    }

    /// Writes the preset's folder to `root` with weights drawn from `seed`; `onModel` is told
    /// each checkpoint as it is written. Weights follow the fixtures' recipe: matrices
    /// N(0, 1/fan_in), biases N(0, 0.1²), norm scales 1 + N(0, 0.1²); buffers keep their values.
    public static func write(
        _ preset: Preset, to root: URL, seed: UInt64 = 0, onModel: (String) -> Void = { _ in }
    ) throws {
        let ckpts = root.appendingPathComponent("ckpts")
        try FileManager.default.createDirectory(at: ckpts, withIntermediateDirectories: true)
        var generator = RandomGenerator(seed: seed)
        let all = descriptors(preset)
        for entry in all {
            onModel(entry.name)
            let isConditioner = entry.key == "image_cond_model"
            let stem = (isConditioner ? root : ckpts).appendingPathComponent(entry.name)
            let descriptor = try ModelDescriptor(
                json: Data(entry.json.utf8), source: "\(preset.rawValue) preset \(entry.name)")
            let model = try TrellisModels.build(descriptor)
            let weights = randomWeights(model, generator: &generator)
            try writeAtomically(Data(entry.json.utf8), to: stem.appendingPathExtension("json"))
            try Safetensors.write(weights, to: stem.appendingPathExtension("safetensors"))
        }
        let models = all.filter { $0.key != "image_cond_model" }.map { ($0.key, $0.name) }
        let conditioner = all.first { $0.key == "image_cond_model" }?.name ?? "dinov2_vitl14_reg"
        try writeAtomically(
            Data(pipelineJSON(models: models, conditioner: conditioner).utf8),
            to: root.appendingPathComponent("pipeline.json"))
    }

    /// Random values for every parameter of `model`, keyed by state_dict key, in the stored dtype.
    static func randomWeights(_ model: Module, generator: inout RandomGenerator) -> [String: Tensor]
    {
        var out: [String: Tensor] = [:]
        for (key, p) in model.namedParameters() {
            let v = p.value
            let shape = v.shape
            let leaf = key.split(separator: ".").last.map(String.init) ?? key
            let isBuffer = leaf == "pos_emb" || leaf == "offset_perturbation" || leaf == "pos_embed"
            var t: Tensor
            if isBuffer {
                t = v.float()
            } else if leaf == "bias" {
                t = 0.1 * Tensor.randn(shape, generator: &generator)
            } else if shape.count >= 2 {
                let fanIn = shape.dropFirst().reduce(1, *)
                t =
                    Float(1 / Double(fanIn).squareRoot())
                    * Tensor.randn(shape, generator: &generator)
            } else {
                t = 1 + 0.1 * Tensor.randn(shape, generator: &generator)
            }
            out[key] = v.dtype == .float32 ? t : t.to(v.dtype)
        }
        return out
    }
}
