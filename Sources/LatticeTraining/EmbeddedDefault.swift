// The embedded default: a small TRELLIS (the released architectures with small configs, on a 32³
// grid, and a small image encoder trained here in place of DINOv2) trained with Lattice's own
// trainers on procedural shapes. This file holds the recipe's fixed choices (shape family,
// held-out range, conditioning views, encoder config) and the stage that trains the sparse
// structure flow jointly with the image encoder. Recipes/embedded-default/ reproduces it all.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeRender
import LatticeTensor

/// Fixed choices of the embedded default and its training stages.
public enum EmbeddedDefault {
    /// Seed of the procedural shape family everything trains on.
    public static let shapeSeed: UInt64 = 1
    /// Voxel grid resolution of the sparse structure (64 upstream).
    public static let resolution = 32
    /// Square input size of the small image encoder (518 for DINOv2 upstream).
    public static let imageSize = 112
    /// Shape indices from here on are never used in training: the demo's examples come from here.
    public static let heldOutStart = 1_000_000

    /// The shape family.
    public static var shapes: ProceduralShapes { ProceduralShapes(seed: shapeSeed) }

    /// The small image encoder: a DINOv2 ViT (same code and key layout) with 8×8 patches of 14 px,
    /// width 128, depth 4, no registers and no layer scale.
    public static var imageEncoderConfig: DinoVisionTransformer.Config {
        var c = DinoVisionTransformer.Config()
        c.imgSize = imageSize
        c.patchSize = 14
        c.embedDim = 128
        c.depth = 4
        c.numHeads = 4
        c.mlpRatio = 4
        c.numRegisterTokens = 0
        c.initValues = nil
        c.interpolateOffset = 0
        return c
    }

    /// timm-style ViT init: PyTorch defaults for layers, N(0, 0.02) position embeddings,
    /// N(0, 1e-6) class token.
    public static func initializeImageEncoder(
        _ encoder: DinoVisionTransformer, generator: inout RandomGenerator
    ) {
        encoder.resetParameters(generator: &generator)
        for (_, m) in encoder.namedModules() {
            guard let linear = m as? Linear else { continue }
            Initializer.normal(linear.weight, std: 0.02, generator: &generator)
            if let bias = linear.bias { Initializer.constant(bias, 0) }
        }
        Initializer.normal(encoder.posEmbed, std: 0.02, generator: &generator)
        Initializer.normal(encoder.clsToken, std: 1e-6, generator: &generator)
    }

    /// Centre of the conditioning views' yaw: a three-quarter view from the front.
    public static let frontYaw = 0.6

    /// A conditioning camera: the photo is taken from the front (yaw `frontYaw` ± 0.15 rad,
    /// pitch 0.15–0.45 rad), fov uniform in [30°, 50°] at the radius where the unit cube's
    /// bounding sphere fills the view (upstream render_cond: r = (√3/2) / sin(fov/2)).
    ///
    /// Upstream renders conditions from any yaw: Objaverse objects have a canonical front that a
    /// DINOv2-conditioned model recognises. Procedural shapes have none (a tilted cone looks the
    /// same from every side up to the tilt's direction), so a photo from an unknown yaw does not
    /// determine where the shape lies in the canonical grid, and the structure flow learnt the
    /// average blob. A known viewpoint makes the photo determine the pose; the residual jitter
    /// (≤ 0.15 rad) moves surface points by at most 0.15 of the [-1, 1] box.
    public static func conditionCamera(seed: UInt64) throws -> (
        extrinsics: Matrix4, intrinsics: Matrix3
    ) {
        let (yaw, pitch, fov) = conditionCameraParameters(seed: seed)
        let radius = (3.0.squareRoot() / 2) / sin(fov / 2 * Double.pi / 180)
        return try yawPitchRadiusFovToExtrinsicsIntrinsics(
            yaw: yaw, pitch: pitch, radius: radius, fovDegrees: fov)
    }

    /// The yaw, pitch (radians) and fov (degrees) of `conditionCamera(seed:)`.
    public static func conditionCameraParameters(seed: UInt64) -> (
        yaw: Double, pitch: Double, fov: Double
    ) {
        var rng = Uniform(seed: splitMix(seed ^ 0xC0DE))
        let yaw = frontYaw - 0.15 + 0.3 * Double(rng.next())
        let pitch = 0.15 + 0.3 * Double(rng.next())
        let fov = 30 + 20 * Double(rng.next())
        return (yaw, pitch, fov)
    }

    /// A shaded RGBA photo (256², straight alpha) of `mesh` from `camera`.
    public static func photo(
        _ mesh: TriangleMesh, camera: (extrinsics: Matrix4, intrinsics: Matrix3), size: Int = 256
    ) throws -> RasterImage {
        var settings = TurntableSettings(resolution: size, ssaa: 2)
        settings.ambient = 0.35
        settings.diffuse = 0.65
        return try renderShadedView(
            mesh, extrinsics: camera.extrinsics, intrinsics: camera.intrinsics, settings: settings)
    }

    /// The encoder input for `photo`: the pipeline's own preprocessing (alpha crop ×1.2,
    /// Lanczos to `imageSize`, premultiplied), so training sees what inference sees.
    public static func conditionImage(_ photo: RasterImage, source: String) throws -> RasterImage {
        try ImagePreprocess.prepare(PixelImage(photo), size: imageSize, source: source)
    }

    /// The sparse-structure flow on the 8³×8 latent of the 32³ structure.
    public static var structureFlowConfig: SparseStructureFlowModel.Config {
        get throws {
            try JSONDecoder().decode(
                SparseStructureFlowModel.Config.self,
                from: Data(
                    """
                    {"resolution": 8, "in_channels": 8, "out_channels": 8, "model_channels": 128,
                     "cond_channels": 128, "num_blocks": 4, "num_heads": 4, "mlp_ratio": 4,
                     "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true}
                    """.utf8))
        }
    }
}

extension EmbeddedDefault {
    /// SS latents (posterior means, [8, 8, 8, 8] each) of shapes `0..<count`, flattened.
    public static func structureLatents(
        encoder: SparseStructureEncoder, count: Int, progress: (Int) -> Void = { _ in }
    ) throws -> [[Float]] {
        let data = ProceduralVoxelDataset(shapes: shapes, count: count, resolution: resolution)
        var out: [[Float]] = []
        out.reserveCapacity(count)
        let batch = 8
        var start = 0
        while start < count {
            let items = Array(start..<min(count, start + batch))
            let occupancy = try data.occupancyBatch(items)  // [B, 1, 32, 32, 32]
            let mean = withNoGrad { encoder(occupancy).mean }  // [B, 8, 8, 8, 8]
            let flat = mean.contiguous().toFloats()
            let per = flat.count / items.count
            for b in 0..<items.count { out.append(Array(flat[(b * per)..<((b + 1) * per)])) }
            start += batch
            progress(start)
        }
        return out
    }

    /// The SS flow trainer: flow-matching on precomputed `latents`, conditioned on the frozen
    /// image encoder's cached tokens of one bank view per item and step (chosen by item and step,
    /// so resume is exact).
    public static func structureFlowTrainer(
        latents: [[Float]], tokens: CachedConditionTokens, options: TrainerOptions, seed: UInt64,
        initialWeights: URL? = nil,
        tSchedule: ImageConditionedFlowMatchingCFGTrainer.TimeSchedule = .logitNormal(
            mean: 1, std: 1)
    ) throws -> (trainer: Trainer, flow: SparseStructureFlowModel) {
        guard tokens.bank.count >= latents.count else {
            throw LatticeError(
                .invalidArgument,
                "ss-flow: \(latents.count) shapes but the photo bank holds \(tokens.bank.count)")
        }
        var generator = RandomGenerator(seed: splitMix(seed ^ 0x5F10))
        let flow = try SparseStructureFlowModel(try structureFlowConfig)
        ImageConditionedFlowMatchingCFGTrainer.initialize(flow, generator: &generator)
        if let initialWeights {
            try flow.load(
                try SafetensorsFile(url: initialWeights).tensors(), source: initialWeights.path)
        }
        let box = TrainerBox()
        let objective = ImageConditionedFlowMatchingCFGTrainer(
            denoiser: flow, datasetCount: latents.count, sigmaMin: 1e-5, pUncond: 0.1,
            tSchedule: tSchedule,
            latents: { items in
                Tensor(items.flatMap { latents[$0] }, shape: [items.count, 8, 8, 8, 8])
            },
            condition: { items in tokens.tokens(items, step: box.trainer?.step ?? 0, salt: 0) })
        let trainer = try Trainer(objective: objective, options: options)
        box.trainer = trainer
        return (trainer, flow)
    }
}

/// Lets a data closure read the trainer's step (the trainer is made after the closure).
final class TrainerBox: @unchecked Sendable {
    weak var trainer: Trainer?
}
