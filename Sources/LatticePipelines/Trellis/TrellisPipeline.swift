// microsoft/TRELLIS@6b0d647:trellis/pipelines/trellis_image_to_3d.py and trellis_text_to_3d.py
// (TrellisImageTo3DPipeline, TrellisTextTo3DPipeline): conditioning, the sparse-structure stage
// and the structured-latent stage, each a step loop that reports progress. Models are loaded from
// the model folder right before their stage and released after it.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeRender

/// Progress of a pipeline run, for the CLI's bars and summaries.
public enum PipelineEvent: Sendable {
    /// A stage began (`detail` says what it loads or runs).
    case started(stage: String, detail: String)
    /// Step `index` (0-based) of `total` finished in `stage`.
    case step(stage: String, index: Int, total: Int)
    /// A stage ended after `seconds`.
    case finished(stage: String, seconds: Double)
    /// Something the user should know (e.g. a truncated prompt).
    case warning(String)
    /// Something worth reporting that is not a problem (e.g. what a compensation achieved).
    case note(String)
}

/// The staged TRELLIS pipeline over one model folder.
public final class TrellisPipeline: @unchecked Sendable {
    /// The folder with `pipeline.json` and `ckpts/`.
    public let folder: ModelFolder
    /// Receives progress events.
    public var onEvent: (PipelineEvent) -> Void
    /// The camera of the last layered-depth lift (the prior's prediction), which the photo
    /// colours look through.
    var liftCamera: PhotoColors.Camera?

    /// A pipeline over `folder`; nothing is loaded until a stage needs it.
    public init(folder: ModelFolder, onEvent: @escaping (PipelineEvent) -> Void = { _ in }) {
        self.folder = folder
        self.onEvent = onEvent
    }

    /// Runs `body` as a named stage, reporting start and duration.
    func stage<T>(_ name: String, _ detail: String, _ body: () throws -> T) rethrows -> T {
        onEvent(.started(stage: name, detail: detail))
        let start = Date()
        let value = try body()
        onEvent(.finished(stage: name, seconds: Date().timeIntervalSince(start)))
        return value
    }

    // MARK: Conditioning

    /// ImageNet normalisation DINOv2 was trained with.
    static let imageMean: [Float] = [0.485, 0.456, 0.406]
    static let imageStd: [Float] = [0.229, 0.224, 0.225]

    /// Where the image conditioner's weights are looked for: a `{"name","args"}` checkpoint pair
    /// when `image_cond_model` is a path in the folder, else `<name>.safetensors` (torch-hub or
    /// Hugging Face key layout) beside `pipeline.json` or in a sibling folder.
    func imageConditioner() throws -> DinoVisionTransformer {
        let name = folder.config.imageCondModel ?? "dinov2_vitl14_reg"
        let stem = folder.root.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: stem.path + ".json") {
            let checkpoint = ModelFolder.Checkpoint(
                descriptor: try ModelDescriptor(
                    contentsOf: URL(fileURLWithPath: stem.path + ".json")),
                weights: URL(fileURLWithPath: stem.path + ".safetensors"))
            return try TrellisModels.load(checkpoint, as: DinoVisionTransformer.self)
        }
        let parent = folder.root.deletingLastPathComponent()
        let candidates = [
            folder.root.appendingPathComponent("\(name).safetensors"),
            parent.appendingPathComponent("\(name).safetensors"),
            parent.appendingPathComponent(name).appendingPathComponent("model.safetensors"),
            parent.appendingPathComponent("dinov2-with-registers-large")
                .appendingPathComponent("model.safetensors"),
        ]
        guard let url = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) })
        else {
            throw LatticeError(
                .io,
                "image conditioner '\(name)' (pipeline.json image_cond_model): no weights at any of "
                    + candidates.map(\.path).joined(separator: ", ")
                    + " (convert dinov2_vitl14_reg4_pretrain.pth to safetensors, or use the Hugging "
                    + "Face facebook/dinov2-with-registers-large model.safetensors)")
        }
        guard name == "dinov2_vitl14_reg" || name.hasPrefix("dinov2") else {
            throw LatticeError(
                .unsupported, "image_cond_model '\(name)': only dinov2_vitl14_reg is known")
        }
        let model = try DinoVisionTransformer(.vitl14Reg)
        try model.load(try SafetensorsFile(url: url).tensors(), source: url.path)
        return model
    }

    /// DINOv2 tokens of preprocessed images: `images` [K, 3, H, W] RGB in [0, 1] (premultiplied,
    /// 518² for the released model) -> cond [K, 1+R+N, C] and the zero negative [1, 1+R+N, C].
    public func imageCondition(_ images: Tensor) throws -> (cond: Tensor, neg: Tensor) {
        try stage("condition", "image encoder on \(images.shape[0]) image(s)") {
            let dino = try imageConditioner()
            let cond = try withNoGrad { try Self.conditionTokens(dino, images) }  // [K, T, C]
            let neg = Tensor(zeros: [1] + Array(cond.shape.dropFirst()))  // [1, T, C]
            return (cond, neg)
        }
    }

    /// Upstream `encode_image`: ImageNet-normalise `images` [K, 3, H, W], run the encoder and
    /// layer-norm its pre-norm tokens without affine -> [K, T, C]. Differentiable (the embedded
    /// default trains its small encoder through this).
    public static func conditionTokens(_ encoder: DinoVisionTransformer, _ images: Tensor) throws
        -> Tensor
    {
        try conditionTokens(encoder, normalized: imageNormalized(images))
    }

    /// `images` [K, 3, H, W] in [0, 1], ImageNet-normalised as the encoder reads them.
    public static func imageNormalized(_ images: Tensor) -> Tensor {
        (images - Tensor(imageMean, shape: [1, 3, 1, 1])) / Tensor(imageStd, shape: [1, 3, 1, 1])
    }

    /// `conditionTokens` of images already ImageNet-normalised (`imageNormalized`).
    public static func conditionTokens(_ encoder: DinoVisionTransformer, normalized x: Tensor)
        throws -> Tensor
    {
        let tokens = try encoder.forwardFeatures(x).xPrenorm  // [K, T, C]
        return layerNorm(tokens, weight: nil, bias: nil, eps: 1e-5)  // [K, T, C]
    }

    /// The folder of the text conditioner (`text_cond_model`, a hub name such as
    /// `openai/clip-vit-large-patch14`): `<root>/<repo>`, a sibling `<repo>` or `<owner>/<repo>`.
    func textConditionerFolder() throws -> URL {
        let name = folder.config.textCondModel ?? "openai/clip-vit-large-patch14"
        let parts = name.split(separator: "/").map(String.init)
        let repo = parts.last ?? name
        let parent = folder.root.deletingLastPathComponent()
        let candidates = [
            folder.root.appendingPathComponent(repo), parent.appendingPathComponent(repo),
            parent.appendingPathComponent(name),
        ]
        guard
            let dir = candidates.first(where: {
                FileManager.default.fileExists(
                    atPath: $0.appendingPathComponent("model.safetensors").path)
            })
        else {
            throw LatticeError(
                .io,
                "text conditioner '\(name)' (pipeline.json text_cond_model): no model.safetensors "
                    + "in any of " + candidates.map(\.path).joined(separator: ", "))
        }
        return dir
    }

    /// The text tower's config: `config.json` in the folder (a Hugging Face CLIPModel config's
    /// `text_config`, or a CLIPTextConfig itself), else CLIP ViT-L/14's.
    static func clipConfig(in dir: URL) throws -> CLIPTextConfig {
        let url = dir.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else { return .clipVitLargePatch14 }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LatticeError(.invalidConfig, "\(url.path): not a JSON object")
        }
        let text = object["text_config"] ?? object
        do {
            return try JSONDecoder().decode(
                CLIPTextConfig.self, from: JSONSerialization.data(withJSONObject: text))
        } catch {
            throw LatticeError(.invalidConfig, "\(url.path): not a CLIP text config (\(error))")
        }
    }

    /// CLIP text tokens of `prompts` -> cond [K, 77, 768] and the negative = CLIP of "" [1, 77, 768].
    /// Prompts longer than 77 tokens are truncated as upstream does, with a warning.
    public func textCondition(_ prompts: [String]) throws -> (cond: Tensor, neg: Tensor) {
        try stage("condition", "CLIP text encoder on \(prompts.count) prompt(s)") {
            let dir = try textConditionerFolder()
            let vocab = ["bpe_simple_vocab_16e6.txt.gz", "merges.txt", "bpe_simple_vocab_16e6.txt"]
                .map { dir.appendingPathComponent($0) }
            guard
                let vocabURL = vocab.first(where: {
                    FileManager.default.fileExists(atPath: $0.path)
                })
            else {
                throw LatticeError(
                    .io,
                    "\(dir.path): no CLIP BPE vocabulary (looked for merges.txt and "
                        + "bpe_simple_vocab_16e6.txt.gz)")
            }
            let tokenizer = try CLIPTokenizer(bpeVocabularyURL: vocabURL)
            for prompt in prompts {
                let n = tokenizer.encode(prompt).count
                if n > tokenizer.maxLength {
                    onEvent(
                        .warning(
                            "prompt has \(n) tokens; CLIP reads \(tokenizer.maxLength), so it was "
                                + "truncated after \(tokenizer.maxLength - 2) tokens"))
                }
            }
            let model = try CLIPTextModel(try Self.clipConfig(in: dir))
            let weights = dir.appendingPathComponent("model.safetensors")
            try model.load(try SafetensorsFile(url: weights).tensors(), source: weights.path)
            return try withNoGrad {
                let cond = try model(tokenizer(prompts).inputIds).lastHiddenState  // [K, 77, C]
                let neg = try model(tokenizer([""]).inputIds).lastHiddenState  // [1, 77, C]
                return (cond, neg)
            }
        }
    }

    // MARK: Sampling

    /// The sampler settings for a stage: pipeline.json params overridden key by key by `user`.
    func samplerSettings(
        _ sampler: TrellisPipelineConfig.Sampler, user: TrellisPipelineConfig.SamplerParams
    ) -> (
        sampler: FlowEulerSampler, steps: Int, rescaleT: Double,
        guidance: FlowEulerSampler.Guidance?
    ) {
        let p = (sampler.params ?? .init()).overridden(by: user)
        let sigmaMin = sampler.args?.sigmaMin ?? 1e-5
        let strength = p.cfgStrength ?? 3.0
        let interval = p.cfgInterval.flatMap { $0.count == 2 ? $0[0]...$0[1] : nil } ?? 0...1
        // FlowEulerSampler without Cfg in its name runs no guidance.
        let guided = sampler.name.contains("Cfg") || sampler.name.contains("Guidance")
        return (
            FlowEulerSampler(sigmaMin: sigmaMin), p.steps ?? 50, p.rescaleT ?? 1,
            guided && strength != 0
                ? FlowEulerSampler.Guidance(
                    strength: strength,
                    interval: sampler.name.contains("GuidanceInterval") ? interval : 0...1) : nil
        )
    }

    /// Samples the occupied voxels: SS flow from noise [B, 8, R, R, R], then the SS decoder;
    /// returns coords [N, 4] int32 (b, x, y, z) of logits > 0, in upstream's argwhere order.
    /// With `silhouette` (the photo's object mask in the conditioning crop, pipeline.json
    /// `structure_guidance.size`²), each step's velocity is compensated toward it
    /// (`StructureGuidance`), or toward the layered-depth prior's lifted surface of
    /// `guidancePhoto` when `structure_guidance` names one; with `layered_depth_use: structure`
    /// that surface is the structure and the flow does not run.
    public func sampleSparseStructure(
        cond: Tensor, neg: Tensor, params: TrellisPipelineConfig.SamplerParams = .init(),
        multiImage: FlowEulerSampler.MultiImageMode? = nil, silhouette: [Float]? = nil,
        guidancePhoto: GuidancePhoto? = nil, generator: inout RandomGenerator
    ) throws -> Tensor {
        if silhouette != nil, let g = folder.config.structureGuidance, let stem = g.layeredDepth,
            g.layeredDepthUse == .structure
        {
            return try liftedStructure(
                stem: stem, photo: guidancePhoto, shape: try structureShape(),
                generator: &generator)
        }
        let flow = try stage("load", "sparse structure flow") {
            try TrellisModels.load(
                folder.checkpoint("sparse_structure_flow_model"), as: SparseStructureFlowModel.self)
        }
        let s = samplerSettings(folder.config.sparseStructureSampler, user: params)
        let r = flow.config.resolution
        let noise = Tensor.randn([1, flow.config.inChannels, r, r, r], generator: &generator)
        func loadDecoder() throws -> SparseStructureDecoder {
            try stage("load", "sparse structure decoder") {
                try TrellisModels.load(
                    folder.checkpoint("sparse_structure_decoder"), as: SparseStructureDecoder.self)
            }
        }
        // Without compensation the decoder is loaded after the flow's stage, as every model is
        // loaded right before its stage; the compensation decodes during sampling.
        var guidance: StructureGuidance?
        var early: SparseStructureDecoder?
        if let silhouette {
            guard let g = folder.config.structureGuidance else {
                throw LatticeError(
                    .invalidConfig,
                    "\(folder.root.appendingPathComponent("pipeline.json").path): silhouette "
                        + "compensation needs the conditioning camera (structure_guidance: "
                        + "{\"yaw\", \"pitch\", \"fov\"}), and this model folder has none")
            }
            let decoder = try loadDecoder()
            // Gradients flow to the latent only: the weights' would be computed and discarded.
            for (_, p) in decoder.namedParameters() { p.value.requiresGrad = false }
            early = decoder
            var target: [Float]?
            if let stem = g.layeredDepth {
                guard let guidancePhoto else {
                    throw LatticeError(
                        .invalidArgument,
                        "layered-depth compensation needs the conditioning photo itself")
                }
                target = try layeredDepthTarget(
                    stem: stem, photo: guidancePhoto, resolution: r << decoder.upsamplings)
            }
            guidance = StructureGuidance(
                fit: try SilhouetteFit(
                    target: silhouette, size: g.size, resolution: r << decoder.upsamplings,
                    cameras: try g.cameras()),
                target: target, decode: { decoder($0) }, config: g, sigmaMin: s.sampler.sigmaMin)
        }
        let kind = guidance?.target != nil ? "layered-depth" : "silhouette"
        let z = stage(
            "sparse structure",
            "\(s.steps) steps at \(r)³" + (guidance == nil ? "" : ", \(kind)-compensated")
        ) {
            withNoGrad {
                s.sampler.sample(
                    model: { x, t, c in flow(x, t: t, cond: c) }, noise: noise, cond: cond,
                    negCond: neg, steps: s.steps, rescaleT: s.rescaleT, guidance: s.guidance,
                    multiImage: multiImage,
                    velocityCompensation: guidance.map { g in
                        .init { x, t, v in g.compensate(x: x, t: t, v: v) }
                    },
                    onStep: { [onEvent] step in
                        onEvent(.step(stage: "sparse structure", index: step.index, total: s.steps))
                    })
            }
        }  // [1, 8, R, R, R]
        let decoder = try early ?? loadDecoder()
        let logits = stage("decode structure", "SS decoder") {
            withNoGrad { decoder(z) }  // [B, 1, 64, 64, 64]
        }
        if let guidance {
            // The sampled structure's silhouette against the photo's, at its best grid camera.
            let p = withNoGrad { logits.sigmoid() }.contiguous().toFloats()
            let best = guidance.fit.bestCamera(p)
            var note = String(
                format: "%@ compensation: %d steps; structure's silhouette IoU %.2f", kind,
                guidance.compensatedSteps, best.iou)
            if let target = guidance.target {
                let dice = StructureGuidance.occupancyDice(
                    p.map { $0 > 0.5 ? 1 : 0 }, target: target)
                note += String(format: ", Dice with the lifted surface %.2f", 1 - dice.loss)
            }
            onEvent(.note(note))
        }
        return Self.occupiedCoords(logits)
    }

    /// The structure stage's noise shape [1, C, r, r, r] and the structure grid's side R (the
    /// SS decoder's output), from the two models' configs alone.
    func structureShape() throws -> (noise: [Int], side: Int) {
        let flow = try folder.checkpoint("sparse_structure_flow_model").descriptor
            .config(SparseStructureFlowModel.Config.self)
        let decoder = try folder.checkpoint("sparse_structure_decoder").descriptor
            .config(SparseStructureDecoder.Config.self)
        let r = flow.resolution
        return ([1, flow.inChannels, r, r, r], r << (decoder.channels.count - 1))
    }

    /// `layered_depth_use: structure`: the structure is the prior's lifted surface, and neither
    /// the flow nor the SS decoder is loaded. The flow's noise is drawn all the same, so the
    /// structured latent's noise does not depend on where the structure came from.
    func liftedStructure(
        stem: String, photo: GuidancePhoto?, shape: (noise: [Int], side: Int),
        generator: inout RandomGenerator
    ) throws -> Tensor {
        guard let photo else {
            throw LatticeError(
                .invalidArgument, "the layered-depth structure needs the conditioning photo itself")
        }
        _ = Tensor.randn(shape.noise, generator: &generator)
        let n = shape.side
        let cells = try layeredDepthTarget(stem: stem, photo: photo, resolution: n)
        return Self.occupiedCoords(Tensor(cells.map { $0 > 0.5 ? 1 : -1 }, shape: [1, 1, n, n, n]))
    }

    /// The conditioning photo as given (the layered-depth prior needs its crop and mask).
    public struct GuidancePhoto {
        public var image: PixelImage
        public var mask: PixelImage?
        public var source: String
        public init(image: PixelImage, mask: PixelImage?, source: String) {
            (self.image, self.mask, self.source) = (image, mask, source)
        }
    }

    /// The surface cells (`resolution`³, 0/1) of the layered-depth prior `<stem>` for `photo`:
    /// its depth maps lifted with the camera it predicts. The photo is taken to be framed as the
    /// prior's training photos are (the unit cube's bounding sphere filling the view, the object
    /// at the centre): the crop's place in the photo fixes the lifted shape's size and position.
    public func layeredDepthTarget(stem: String, photo: GuidancePhoto, resolution: Int) throws
        -> [Float]
    {
        let model = try stage("load", "layered depth prior") {
            try LayeredDepthModel.load(folder: folder.root, stem: stem)
        }
        return try stage("layered depth", "front and back depth of the conditioning crop") {
            let c = model.config
            let input = try ImagePreprocess.prepare(
                photo.image, mask: photo.mask, size: c.encoder.imgSize, source: photo.source)
            let crop = try ImagePreprocess.cropFrame(
                photo.image, mask: photo.mask, source: photo.source)
            let frame = LayeredDepthLift.Crop(
                u0: crop.u0, v0: crop.v0, width: crop.width, height: crop.height)
            let p = try model.predict(ImagePreprocess.batch([input]), crop: frame)
            let mask = try ImagePreprocess.alphaMask(
                photo.image, mask: photo.mask, size: c.grid, source: photo.source)
            let radius = (3.0.squareRoot() / 2) / sin(p.fov / 2 * Double.pi / 180)
            let camera = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: p.yaw, pitch: p.pitch, radius: radius, fovDegrees: p.fov)
            let target = LayeredDepthLift.surface(
                front: p.front, back: p.back, gap: p.gap, mask: mask, grid: c.grid,
                crop: frame, camera: camera, resolution: resolution)
            liftCamera = camera
            onEvent(
                .note(
                    String(
                        format: "layered depth: camera yaw %.2f, pitch %.2f, fov %.0f°; %d "
                            + "surface cells", p.yaw, p.pitch, p.fov,
                        Int(target.reduce(0, +)))))
            return target
        }
    }

    /// Samples the structured latent on `coords` [N, 4]: SLat flow from noise feats [N, 8], then
    /// per-channel de-normalisation with pipeline.json's `slat_normalization`.
    public func sampleSlat(
        coords: Tensor, cond: Tensor, neg: Tensor,
        params: TrellisPipelineConfig.SamplerParams = .init(),
        multiImage: FlowEulerSampler.MultiImageMode? = nil, generator: inout RandomGenerator
    ) throws -> SparseTensor {
        guard coords.shape[0] > 0 else {
            throw LatticeError(
                .invalidArgument,
                "the sparse structure stage produced no occupied voxels; try another seed or "
                    + "more sparse-structure steps")
        }
        let flow = try stage("load", "structured latent flow") {
            try TrellisModels.load(folder.checkpoint("slat_flow_model"), as: SLatFlowModel.self)
        }
        let s = samplerSettings(folder.config.slatSampler, user: params)
        let noiseFeats = Tensor.randn(
            [coords.shape[0], flow.config.inChannels], generator: &generator)
        let x0 = try SparseTensor(coords: coords, feats: noiseFeats)  // feats [N, 8]
        // The sampler works on feats; the coords stay fixed. Errors inside the model closure are
        // carried out and rethrown after the loop.
        var failure: (any Error)?
        let feats = stage("structured latent", "\(s.steps) steps on \(coords.shape[0]) voxels") {
            withNoGrad {
                s.sampler.sample(
                    model: { f, t, c in
                        do {
                            return try flow(x0.replacing(feats: f), t: t, cond: c).feats
                        } catch {
                            failure = failure ?? error
                            return Tensor(zeros: f.shape)
                        }
                    }, noise: noiseFeats, cond: cond, negCond: neg, steps: s.steps,
                    rescaleT: s.rescaleT, guidance: s.guidance, multiImage: multiImage,
                    batchSize: x0.batchSize,
                    onStep: { [onEvent] step in
                        onEvent(
                            .step(stage: "structured latent", index: step.index, total: s.steps))
                    })
            }
        }  // [N, 8]
        if let failure { throw failure }
        var out = feats
        if let norm = folder.config.slatNormalization {
            guard norm.mean.count == out.shape[1], norm.std.count == out.shape[1] else {
                throw LatticeError(
                    .invalidConfig,
                    "\(folder.root.path)/pipeline.json: slat_normalization has \(norm.mean.count) "
                        + "means and \(norm.std.count) stds for \(out.shape[1]) latent channels")
            }
            let std = Tensor(norm.std.map { Float($0) }, shape: [1, norm.std.count])
            let mean = Tensor(norm.mean.map { Float($0) }, shape: [1, norm.mean.count])
            out = out * std + mean  // [N, 8]
        }
        return x0.replacing(feats: out)
    }

    /// What `decodeSlat` produced, per batch item.
    public struct DecodedAssets {
        /// 3D Gaussians (SLatGaussianDecoder).
        public var gaussians: [Gaussian] = []
        /// Strivec radiance fields (SLatRadianceFieldDecoder).
        public var radianceFields: [Strivec] = []
        /// The mesh decoder's FlexiCubes features at `meshResolution`³ (coords [M, 4], feats
        /// [M, 101]), ready for mesh extraction.
        public var meshFeatures: SparseTensor?
        /// The resolution of `meshFeatures`.
        public var meshResolution = 0
        /// Whether the mesh features carry vertex colours.
        public var meshUseColor = false
    }

    /// Decoders to run.
    public enum DecoderKind: String, Sendable, CaseIterable {
        case gaussian, radianceField = "radiance_field", mesh
    }

    /// Decodes `slat` with each requested decoder, loading and releasing them one at a time.
    public func decodeSlat(_ slat: SparseTensor, decoders: Set<DecoderKind>) throws -> DecodedAssets
    {
        var out = DecodedAssets()
        if decoders.contains(.gaussian) {
            let dec = try stage("load", "Gaussian decoder") {
                try TrellisModels.load(
                    folder.checkpoint("slat_decoder_gs"), as: SLatGaussianDecoder.self)
            }
            out.gaussians = try stage("decode gaussians", "\(slat.count) voxels") {
                try withNoGrad { try dec(slat) }
            }
        }
        if decoders.contains(.radianceField) {
            let dec = try stage("load", "radiance field decoder") {
                try TrellisModels.load(
                    folder.checkpoint("slat_decoder_rf"), as: SLatRadianceFieldDecoder.self)
            }
            out.radianceFields = try stage("decode radiance field", "\(slat.count) voxels") {
                try withNoGrad { try dec(slat) }
            }
        }
        if decoders.contains(.mesh) {
            let dec = try stage("load", "mesh decoder") {
                try TrellisModels.load(
                    folder.checkpoint("slat_decoder_mesh"), as: SLatMeshDecoder.self)
            }
            out.meshFeatures = try stage("decode mesh features", "\(slat.count) voxels") {
                try withNoGrad { try dec(slat) }
            }
            out.meshResolution = dec.meshResolution
            out.meshUseColor = dec.config.representationConfig.useColor
        }
        return out
    }

    /// `argwhere(logits > 0)[:, [0, 2, 3, 4]]` of logits [B, 1, X, Y, Z] -> [N, 4] int32.
    public static func occupiedCoords(_ logits: Tensor) -> Tensor {
        let l = logits.contiguous().float()
        let (b, x, y, z) = (l.shape[0], l.shape[2], l.shape[3], l.shape[4])
        let v = l.toFloats()
        var coords: [Int32] = []
        var i = 0
        for bi in 0..<b {
            for xi in 0..<x {
                for yi in 0..<y {
                    for zi in 0..<z {
                        if v[i] > 0 { coords += [Int32(bi), Int32(xi), Int32(yi), Int32(zi)] }
                        i += 1
                    }
                }
            }
        }
        return Tensor(int32: coords, shape: [coords.count / 4, 4])
    }
}
