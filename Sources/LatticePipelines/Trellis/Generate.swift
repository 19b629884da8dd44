// `lattice generate` as a library entry point: image(s) or a prompt -> TRELLIS assets on disk
// (GLB mesh with vertex colours, 3DGS PLY, GIF turntable), with per-stage timings and peak memory.
// Upstream's to_glb bakes a texture and decimates; Lattice exports vertex colours (see README).
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeRender

/// What to export.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// A GLB mesh (FlexiCubes surface with vertex colours, Y-up as upstream exports).
    case glb
    /// A 3D Gaussian splatting PLY.
    case ply
    /// A turntable GIF of the Gaussians (or of the mesh when no Gaussians were decoded).
    case video
    /// A turntable GIF of the radiance-field (Strivec) decoding, TRELLIS's octree renderer.
    case radianceFieldVideo = "rf_video"
}

/// One generation request.
public struct GenerateRequest: Sendable {
    public var modelFolder: URL
    /// Conditioning images (image pipelines); several run in `multiImageMode`.
    public var images: [URL] = []
    /// Optional masks, one per image (white = object), for images without transparency.
    public var masks: [URL?] = []
    /// The prompt (text pipelines).
    public var prompt: String?
    public var multiImageMode: FlowEulerSampler.MultiImageMode = .stochastic
    public var seed: UInt64 = 42
    public var sparseStructureParams = TrellisPipelineConfig.SamplerParams()
    public var slatParams = TrellisPipelineConfig.SamplerParams()
    public var formats: Set<ExportFormat> = [.glb, .ply]
    public var outputDirectory: URL
    /// File stem of the outputs.
    public var name = "asset"
    public var videoFrames = 60
    public var videoResolution = 256
    /// Keep at most this many occupied voxels (an evenly strided subset, in order) before the
    /// structured-latent stage. Not an upstream option: upstream caps training structures at
    /// 32,768 voxels; this bounds time and memory of random-weight runs and very large shapes.
    public var maxVoxels: Int?
    /// Asset variants (upstream `run_variant`): keep this mesh's voxel structure and regenerate
    /// only its structured latent (appearance and detail) from the image(s) or prompt.
    public var variantOf: URL?
    /// Guidance of the structure stage by the photo (`StructureGuidance`: toward the photo's
    /// silhouette, or toward the layered-depth prior's lifted surface when pipeline.json's
    /// `structure_guidance` names one; one image, and a model folder whose pipeline.json gives
    /// its conditioning camera in `structure_guidance`). nil: as `structure_guidance.enabled`
    /// says (off when the folder has none), and skipped with a note for several images.
    public var structureGuidance: Bool?

    public init(modelFolder: URL, outputDirectory: URL) {
        self.modelFolder = modelFolder
        self.outputDirectory = outputDirectory
    }
}

/// What a generation wrote and how long it took.
public struct GenerateResult: Sendable {
    /// Files written, in order.
    public var files: [URL] = []
    /// (stage, seconds) in run order.
    public var stageSeconds: [(String, Double)] = []
    public var voxels = 0
    public var gaussians = 0
    public var meshVertices = 0
    public var meshFaces = 0
    /// Peak resident memory of the process, bytes (Linux).
    public var peakRSS: Int?
}

extension TrellisPipeline {
    /// The square input size of the image conditioner (`img_size` of its config; 518 released).
    func conditionerImageSize() -> Int {
        let name = folder.config.imageCondModel ?? "dinov2_vitl14_reg"
        let json = folder.root.appendingPathComponent(name + ".json")
        if let d = try? ModelDescriptor(contentsOf: json),
            let c = try? d.config(DinoVisionTransformer.Config.self)
        {
            return c.imgSize
        }
        return 518
    }

    /// Upstream `run_variant`'s structure: the mesh centred on its bounding box, divided by its
    /// largest extent, clipped to ±(0.5 − 1e-6) and surface-voxelized at the SLat flow's
    /// resolution -> coords [N, 4] (batch 0).
    func variantCoords(of url: URL) throws -> Tensor {
        let mesh = try AssetRender.mesh(url, clamp: Float(Voxelizer.vertexClamp))
        let resolution = try folder.checkpoint("slat_flow_model").descriptor
            .config(SLatFlowModel.Config.self).resolution
        let voxels = Voxelizer.voxelizeSurface(mesh, resolution: resolution)
        return Tensor(int32: voxels.flatMap { [0, $0.x, $0.y, $0.z] }, shape: [voxels.count, 4])
    }

    /// Runs the whole pipeline for `request` and writes the requested files atomically.
    public func generate(_ request: GenerateRequest) throws -> GenerateResult {
        var result = GenerateResult()
        let outer = onEvent
        onEvent = { event in
            if case .finished(let stage, let seconds) = event {
                result.stageSeconds.append((stage, seconds))
            }
            outer(event)
        }
        defer { onEvent = outer }
        guard request.images.isEmpty != (request.prompt == nil) else {
            throw LatticeError(
                .invalidArgument,
                "give either images or a prompt (got \(request.images.count) "
                    + "image(s) and \(request.prompt == nil ? "no" : "a") prompt)")
        }
        try FileManager.default.createDirectory(
            at: request.outputDirectory, withIntermediateDirectories: true)
        // Conditioning.
        let cond: Tensor
        let neg: Tensor
        var silhouette: [Float]?
        var guidancePhoto: GuidancePhoto?
        if let prompt = request.prompt {
            (cond, neg) = try textCondition([prompt])
        } else {
            var guided = request.structureGuidance ?? false
            if request.structureGuidance == nil, folder.config.structureGuidance?.enabled == true {
                guided = request.images.count == 1
                if !guided {
                    onEvent(
                        .note(
                            "structure guidance (on in pipeline.json) skipped: it takes one "
                                + "image, got \(request.images.count)"))
                }
            }
            guard !guided || request.images.count == 1 else {
                throw LatticeError(
                    .invalidArgument,
                    "structure guidance takes one image (the camera of one conditioning "
                        + "view is known); got \(request.images.count)")
            }
            let size = conditionerImageSize()
            var prepared: [RasterImage] = []
            for (i, url) in request.images.enumerated() {
                let image = try readPixelImage(at: url)
                let maskURL = i < request.masks.count ? request.masks[i] : nil
                let mask = try maskURL.map { try readPixelImage(at: $0) }
                prepared.append(
                    try ImagePreprocess.prepare(image, mask: mask, size: size, source: url.path))
                if guided {
                    silhouette = try ImagePreprocess.alphaMask(
                        image, mask: mask,
                        size: folder.config.structureGuidance?.size ?? 64, source: url.path)
                    guidancePhoto = GuidancePhoto(image: image, mask: mask, source: url.path)
                }
            }
            (cond, neg) = try imageCondition(ImagePreprocess.batch(prepared))
        }
        let multi: FlowEulerSampler.MultiImageMode? =
            cond.shape[0] > 1 ? request.multiImageMode : nil
        if multi == .stochastic, let steps = request.sparseStructureParams.steps,
            cond.shape[0] > steps
        {
            onEvent(
                .warning("\(cond.shape[0]) images but only \(steps) steps: some images are unused"))
        }
        // Sampling.
        liftCamera = nil
        var generator = RandomGenerator(seed: request.seed)
        var coords: Tensor
        if let variant = request.variantOf {
            coords = try stage("voxelize", variant.lastPathComponent) {
                try variantCoords(of: variant)
            }
        } else {
            coords = try sampleSparseStructure(
                cond: cond, neg: neg, params: request.sparseStructureParams, multiImage: multi,
                silhouette: silhouette, guidancePhoto: guidancePhoto,
                generator: &generator)
        }
        if let cap = request.maxVoxels, coords.shape[0] > cap {
            let n = coords.shape[0]
            let all = coords.toInts()  // [n * 4]
            var kept: [Int32] = []
            kept.reserveCapacity(cap * 4)
            for i in 0..<cap {  // evenly strided, ascending, so batch order is kept
                let r = i * n / cap
                for k in 0..<4 { kept.append(Int32(all[r * 4 + k])) }
            }
            onEvent(.warning("kept \(cap) of \(n) occupied voxels (--max-voxels)"))
            coords = Tensor(int32: kept, shape: [cap, 4])
        }
        result.voxels = coords.shape[0]
        let slat = try sampleSlat(
            coords: coords, cond: cond, neg: neg, params: request.slatParams, multiImage: multi,
            generator: &generator)
        // Decoding.
        var decoders: Set<DecoderKind> = []
        if request.formats.contains(.ply) || request.formats.contains(.video) {
            decoders.insert(.gaussian)
        }
        if request.formats.contains(.glb) { decoders.insert(.mesh) }
        if request.formats.contains(.radianceFieldVideo) { decoders.insert(.radianceField) }
        let assets = try decodeSlat(slat, decoders: decoders)
        let stem = request.outputDirectory.appendingPathComponent(request.name)
        var mesh: TriangleMesh?
        if let features = assets.meshFeatures {
            mesh = try stage("extract mesh", "FlexiCubes at \(assets.meshResolution)³") {
                let extractor = SparseFeatures2Mesh(
                    resolution: assets.meshResolution, useColor: assets.meshUseColor)
                let meshes = try extractor(coords: features.coords, feats: features.feats)
                guard let first = meshes.first, first.success else {
                    throw LatticeError(
                        .invalidArgument,
                        "mesh extraction found no surface in the decoded features "
                            + "(\(features.count) cubes)")
                }
                return first.mesh
            }
        }
        if folder.config.structureGuidance?.photoColors == true, let camera = liftCamera,
            let photo = guidancePhoto
        {
            if let m = mesh {
                let colored = try stage("photo colours", "the conditioning photo onto the mesh") {
                    let rgba = try ImagePreprocess.withAlpha(
                        photo.image, mask: photo.mask, source: photo.source
                    ).raster
                    let out = try PhotoColors.colored(m, photo: rgba, camera: camera)
                    for g in assets.gaussians { PhotoColors.recolor(g, from: out) }
                    return out
                }
                mesh = colored
            } else {
                onEvent(.note("photo colours need the mesh (glb); the Gaussians keep theirs"))
            }
        }
        // Exports.
        if request.formats.contains(.ply), let g = assets.gaussians.first {
            let url = stem.appendingPathExtension("ply")
            try stage("write ply", url.lastPathComponent) { try g.savePLY(to: url) }
            result.files.append(url)
            result.gaussians = g.count
        }
        if request.formats.contains(.glb), let mesh {
            let url = stem.appendingPathExtension("glb")
            try stage("write glb", url.lastPathComponent) {
                try GLB.write(mesh, to: url, zUpToYUp: true)
            }
            result.files.append(url)
            result.meshVertices = mesh.vertices.count
            result.meshFaces = mesh.faces.count
        }
        if request.formats.contains(.video) {
            let url = request.outputDirectory.appendingPathComponent(
                request.name + "_turntable.gif")
            let settings = TurntableSettings(
                frames: request.videoFrames, resolution: request.videoResolution, ssaa: 2)
            let frames: [RasterImage] = try stage(
                "render turntable", "\(request.videoFrames) frames"
            ) {
                if let g = assets.gaussians.first {
                    return try renderTurntable(
                        try g.scene(), settings: settings, splatSettings: .trellis)
                }
                if let mesh { return try renderTurntable(mesh, settings: settings) }
                return []
            }
            if !frames.isEmpty {
                try stage("write video", url.lastPathComponent) { try GIF.write(frames, to: url) }
                result.files.append(url)
            }
        }
        if request.formats.contains(.radianceFieldVideo), let field = assets.radianceFields.first {
            let url = request.outputDirectory.appendingPathComponent(request.name + "_rf.gif")
            let settings = TurntableSettings(
                frames: request.videoFrames, resolution: request.videoResolution, ssaa: 2)
            let frames = try stage("render radiance field", "\(request.videoFrames) frames") {
                try renderTurntable(field, settings: settings)
            }
            try stage("write video", url.lastPathComponent) { try GIF.write(frames, to: url) }
            result.files.append(url)
        }
        result.peakRSS = ResourceUsage.peakRSS
        return result
    }
}
