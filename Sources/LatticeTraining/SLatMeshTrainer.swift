// The SLat mesh-decoder objective, after TRELLIS@6b0d647
// trellis/trainers/vae/structured_latent_vae_mesh_dec.py (SLatVaeMeshDecoderTrainer) and the
// training branch of trellis/representations/mesh/cube2mesh.py + utils_cube.py.
//
// Upstream decodes precomputed latents (the encoder is frozen: the dataset stores its means) and
// sums: the FlexiCubes regularisers (corner consistency: mean squared difference between each
// cube corner's [sdf + bias, deform, colour] and the mean over the cubes sharing that grid
// vertex; 0.2·mean|weights[:, :20]|; 0.5·L_dev), rendered mask / depth / normal losses, a TSDF
// term (×0.01) and rendered colour terms. Lattice's FlexiCubes extraction and mesh rasterizer
// have no gradients yet, so this objective keeps the terms that act on decoder outputs directly:
//
// - `consistency` and `weights_reg` exactly as upstream.
// - `tsdf`: upstream's tsdf_v / tsdf_s are the deformed positions and the (biased) mean sdf of
//   every grid vertex of the sparse cubes; the target is a pseudo-sdf from the ground-truth depth
//   map of one view (visible depth minus point depth), kept where > -δ and clamped to ±δ,
//   δ = 3/res, loss = mean squared error. Here the target is the true signed distance to the
//   normalised GT mesh (MeshSignedDistance), evaluated at the deformed vertex to first order
//   (d + ∇d·(p' - p), exact at the grid vertex; the deformation is at most half a cell). With
//   `truncateInside` (upstream) vertices deeper than δ inside are dropped like upstream drops
//   points behind the visible surface; without it they are clamped to -δ, which a true SDF makes
//   possible and which keeps spurious surfaces out of the interior.
// - `color` (a stand-in for upstream's rendered colour loss, weight λ_color): L1 between the
//   predicted vertex colour (sigmoid of the mean colour channels 0..<3, as extraction outputs
//   it) and the GT vertex colour interpolated at the closest surface point, over grid vertices
//   within δ of the surface. The normal-map channels (3..<6) get no target.
// - L_dev and the rendered terms are left out (no differentiable extraction / rasterizer).
//
// With only these terms the TSDF is the sole geometry signal, so the default weights
// (`LossWeights.geometryOnly`) measure it in units of the truncation band (λ = 1/δ²);
// `LossWeights.upstream` keeps upstream's numbers.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticeNN
import LatticeRender
import LatticeSparse
import LatticeTensor

/// SLat mesh-decoder training objective (decoder trained; encoder frozen, trained, or absent).
public final class SLatVaeMeshDecoderTrainer: TrainingObjective {
    /// Loss weights and the TSDF truncation rule.
    public struct LossWeights: Sendable, Equatable {
        /// Corner-consistency MSE (upstream 1, inside `reg_loss`).
        public var consistency: Float = 1
        /// mean |weights[:, :20]| (upstream 0.2).
        public var weights: Float = 0.2
        /// TSDF MSE (upstream `lambda_tsdf` 0.01).
        public var tsdf: Float
        /// Vertex-colour L1 (upstream `lambda_color` 0.1); 0 turns it off.
        public var color: Float = 0.1
        /// KL of the posterior when the encoder is trained jointly.
        public var kl: Float = 1e-6
        /// Drop vertices deeper than δ inside from the TSDF term (upstream) instead of clamping
        /// their target to -δ.
        public var truncateInside: Bool

        public init(tsdf: Float, truncateInside: Bool) {
            self.tsdf = tsdf
            self.truncateInside = truncateInside
        }

        /// Upstream's weights (meant to sit beside the rendered losses).
        public static let upstream = LossWeights(tsdf: 0.01, truncateInside: true)

        /// Without rendered losses: the TSDF in units of the band δ = 3/res (λ = 1/δ²) and
        /// interior vertices clamped to -δ.
        public static func geometryOnly(meshResolution: Int) -> LossWeights {
            let delta = 3 / Float(meshResolution)
            return LossWeights(tsdf: 1 / (delta * delta), truncateInside: false)
        }
    }

    /// How the latent is taken from the encoder.
    public enum LatentMode: String, Sendable {
        /// The posterior mean (what upstream's precomputed latents are).
        case mean
        /// mean + exp(logvar/2)·ε with ε from the step generator.
        case sample
    }

    public let decoder: SLatMeshDecoder
    /// nil: the samples' features are the latents.
    public let encoder: SLatEncoder?
    /// Whether the encoder is optimised with the decoder (upstream freezes it).
    public let trainEncoder: Bool
    public let data: SLatSampleSource
    public let latentMode: LatentMode
    public let weights: LossWeights
    /// Items whose latents and GT geometry are kept in memory (the rest are recomputed, with
    /// the same result, each time).
    public let cacheLimit: Int
    /// Rendered depth / normal terms through differentiable FlexiCubes vertices (nil: off).
    public var renderLoss: RenderLoss?

    /// One view per item and step, rendered at `resolution`²: L1 of camera depth (×`depth`) and
    /// L1 of (n + 1)/2 world normals (×`normal`) over pixels both meshes cover. Silhouette
    /// (mask) errors get no gradient.
    public struct RenderLoss: Sendable, Equatable {
        public var resolution: Int
        public var depth: Float
        public var normal: Float

        public init(resolution: Int = 128, depth: Float = 10, normal: Float = 1) {
            self.resolution = resolution
            self.depth = depth
            self.normal = normal
        }
    }
    /// Target spacing of the GT surface samples, in fine cells.
    public let sampleSpacingCells: Float = 0.5

    /// FlexiCubes grid resolution (4 × the latent resolution).
    public var meshResolution: Int { decoder.meshResolution }
    /// Truncation band δ = 3/res (upstream `1 / rep.res * 3.0`).
    public var truncation: Float { 3 / Float(meshResolution) }
    /// Upstream `sdf_bias` = -1/res, added to every predicted sdf.
    public var sdfBias: Float { -1 / Float(meshResolution) }

    public var models: [(name: String, module: Module)] {
        if trainEncoder, let encoder { return [("encoder", encoder), ("decoder", decoder)] }
        return [("decoder", decoder)]
    }
    public var datasetCount: Int { data.count }

    private var latentCache: [Int: SparseTensor] = [:]
    private var geometryCache: [Int: GeometryTarget] = [:]

    /// `weights` nil: `LossWeights.geometryOnly` at the decoder's mesh resolution.
    public init(
        decoder: SLatMeshDecoder, encoder: SLatEncoder?, trainEncoder: Bool = false,
        data: SLatSampleSource, latentMode: LatentMode = .mean, weights: LossWeights? = nil,
        cacheLimit: Int = 256
    ) throws {
        if trainEncoder && encoder == nil {
            throw LatticeError(
                .invalidArgument, "SLatVaeMeshDecoderTrainer: trainEncoder needs an encoder")
        }
        if let encoder, encoder.config.trunk.latentChannels != decoder.config.trunk.latentChannels {
            throw LatticeError(
                .invalidConfig,
                "SLatVaeMeshDecoderTrainer: encoder latent_channels \(encoder.config.trunk.latentChannels) != decoder latent_channels \(decoder.config.trunk.latentChannels)"
            )
        }
        self.decoder = decoder
        self.encoder = encoder
        self.trainEncoder = trainEncoder
        self.data = data
        self.latentMode = latentMode
        self.weights = weights ?? .geometryOnly(meshResolution: decoder.meshResolution)
        self.cacheLimit = cacheLimit
        if !trainEncoder { encoder?.train(false) }
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        var sums: [String: Tensor] = [:]
        for item in items {
            for (k, v) in try itemLosses(item, generator: &generator) {
                sums[k] = sums[k].map { $0 + v } ?? v
            }
        }
        let n = Float(max(items.count, 1))
        return sums.mapValues { $0 / n }
    }

    /// The per-item terms (see the file header).
    func itemLosses(_ item: Int, generator: inout RandomGenerator) throws -> [String: Tensor] {
        var terms: [String: Tensor] = [:]
        var sample: SLatTrainingSample?
        func loadSample() throws -> SLatTrainingSample {
            if let sample { return sample }
            let s = try data.sample(item)
            sample = s
            return s
        }
        let latent: SparseTensor
        if let cached = latentCache[item] {
            latent = cached
        } else {
            let x = try inputTensor(loadSample())
            if let encoder {
                if trainEncoder {
                    let (mean, logvar) = try encoder(x)
                    terms["kl"] = Loss.kl(mean: mean.feats, logvar: logvar.feats)
                    latent = try posterior(mean, logvar, generator: &generator)
                } else {
                    latent = try withNoGrad {
                        let (mean, logvar) = try encoder(x)
                        return try posterior(mean, logvar, generator: &generator)
                    }
                    if latentMode == .mean && latentCache.count < cacheLimit {
                        latentCache[item] = latent
                    }
                }
            } else {
                latent = x
                if latentCache.count < cacheLimit { latentCache[item] = x }
            }
        }

        let out = try decoder.forward(latent).feats  // coords [M, 4], feats [M, C]
        let geometry: GeometryTarget
        if let g = geometryCache[item], g.rows == out.count {
            geometry = g
        } else {
            let s = try loadSample()
            guard let mesh = s.mesh else {
                throw LatticeError(
                    .invalidArgument,
                    "SLatVaeMeshDecoderTrainer: sample '\(s.id)' (item \(item)) has no mesh")
            }
            geometry = try GeometryTarget(
                coords: out.coords, resolution: meshResolution, mesh: mesh,
                cameras: s.views.map { ($0.extrinsics, $0.intrinsics) },
                sampleSpacing: sampleSpacingCells / Float(meshResolution), seed: UInt64(item))
            if geometryCache.count < cacheLimit { geometryCache[item] = geometry }
        }
        let useColor = decoder.config.representationConfig.useColor
        let f = out.feats  // [M, C]
        let m = f.shape[0]
        let v = geometry.vertexCount
        let sdf = f.slice(1, 0, 8).reshape([m, 8, 1]) + sdfBias  // [M, 8, 1]
        let deform = f.slice(1, 8, 32).reshape([m, 8, 3])  // [M, 8, 3]
        var parts = [sdf, deform]
        if useColor { parts.append(f.slice(1, 53, 101).reshape([m, 8, 6])) }  // [M, 8, 6]
        let a = useColor ? 10 : 4
        let corners = Tensor.cat(parts, axis: 2).reshape([m * 8, a])  // [8M, A]
        let index = geometry.cornerVertex  // [8M]
        let vertexAttrs = Tensor(zeros: [v, a]).scatterMean(axis: 0, index: index, source: corners)  // [V, A]
        let consistency = (corners - vertexAttrs.indexSelect(axis: 0, index: index)).square()
            .mean()
        let weightsReg = f.slice(1, 32, 52).abs().mean()
        terms["consistency"] = consistency
        terms["weights_reg"] = weightsReg
        var loss = consistency * weights.consistency + weightsReg * weights.weights

        let (target, mask, count) = geometry.tsdfTarget(
            vertexAttributes: vertexAttrs.detach().contiguous().toFloats(), channels: a,
            resolution: meshResolution, truncation: truncation,
            truncateInside: weights.truncateInside)
        let predicted = vertexAttrs.slice(1, 0, 1).reshape([v])  // [V]
        let tsdf =
            ((predicted - Tensor(target, shape: [v])).square() * Tensor(mask, shape: [v])).sum()
            / Float(max(count, 1))
        terms["tsdf"] = tsdf
        loss = loss + tsdf * weights.tsdf

        if useColor, weights.color > 0, let colors = geometry.colors {
            let near = geometry.nearSurface(truncation: truncation)  // [V]
            let nearCount = near.reduce(0, +)
            let pred = vertexAttrs.slice(1, 4, 7).sigmoid()  // [V, 3]
            let color =
                ((pred - Tensor(colors, shape: [v, 3])).abs() * Tensor(near, shape: [v, 1])).sum()
                / Float(max(3 * nearCount, 1))
            terms["color"] = color
            loss = loss + color * weights.color
        }
        if let render = renderLoss {
            for (k, v) in try renderedTerms(
                render, features: f, vertexAttributes: vertexAttrs, geometry: geometry,
                generator: &generator)
            {
                terms[k] = v
                loss = loss + v * (k == "depth" ? render.depth : render.normal)
            }
        }
        if let kl = terms["kl"] { loss = loss + kl * weights.kl }
        terms["loss"] = loss
        return terms
    }

    /// Depth and normal terms through the differentiable dual vertices and pixel geometry
    /// (empty when the prediction has no surface or no pixel is covered by both meshes).
    private func renderedTerms(
        _ render: RenderLoss, features f: Tensor, vertexAttributes: Tensor,
        geometry: GeometryTarget, generator: inout RandomGenerator
    ) throws -> [String: Tensor] {
        let useColor = decoder.config.representationConfig.useColor
        let m = f.shape[0]
        let v = geometry.vertexCount
        let gt = geometry.mesh
        let views = geometry.cameras
        let extractor = SparseFeatures2Mesh(resolution: meshResolution, useColor: useColor)
        let extracted = try extractor.extract(
            coords: geometry.cubeCoords, features: f.detach().contiguous().toFloats())
        guard extracted.success, !gt.faces.isEmpty else { return [:] }
        let dual = FlexiCubesDualVertices(topology: extracted.topology)
        let g = max(dual.gridRows, v)
        let rest = dual.restPositions(resolution: meshResolution)
        let scale = Float(1 - 1e-8) / Float(2 * meshResolution)
        let deformed =
            Tensor(geometry.positions.flatMap { [$0.x, $0.y, $0.z] }, shape: [v, 3])
            + vertexAttributes.slice(1, 1, 4).tanh() * scale  // [V, 3]
        var sdf = vertexAttributes.slice(1, 0, 1).reshape([v])  // [V]
        var positions = deformed
        if g > v {
            // Default grid vertices (corners the sparse cubes do not store): sdf 1, at rest.
            sdf = Tensor.cat([sdf, Tensor(full: [g - v], value: 1)], axis: 0)  // [G]
            let extra = rest[v..<g].flatMap { [$0.x, $0.y, $0.z] }
            positions = Tensor.cat([deformed, Tensor(extra, shape: [g - v, 3])], axis: 0)  // [G, 3]
        }
        let rawWeights = Tensor.cat(
            [f.slice(1, 32, 53), Tensor(zeros: [1, 21])], axis: 0)  // [M + 1, 21]
        let rows = extracted.topology.weightRows.map { Int64($0 < 0 ? m : Int($0)) }
        let surfaceWeights = rawWeights.indexSelect(
            axis: 0, index: Tensor(int64: rows, shape: [rows.count]))  // [S, 21]
        let vertices = dual(sdf: sdf, positions: positions, surfaceWeights: surfaceWeights)  // [D, 3]

        let camera: (extrinsics: Matrix4, intrinsics: Matrix3)
        let u = generator.uniform(count: 2)
        if !views.isEmpty {
            camera = views[min(views.count - 1, Int(u[0] * Float(views.count)))]
        } else {
            camera = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: Double(u[0]) * 2 * Double.pi, pitch: (Double(u[1]) - 0.5) * Double.pi / 2,
                radius: 2, fovDegrees: 40)
        }
        let size = render.resolution
        let pixels = try MeshPixelGeometry(
            mesh: extracted.mesh, extrinsics: camera.extrinsics, intrinsics: camera.intrinsics,
            size: size)
        let target = try renderMesh(
            gt, extrinsics: camera.extrinsics, intrinsics: camera.intrinsics,
            settings: MeshRenderSettings(width: size, height: size, near: 0.1, far: 100, ssaa: 1),
            attributes: (values: [], channels: 0))
        let gtNormals = LatticeGeometry.faceNormals(vertices: gt.vertices, faces: gt.faces)
        var keep: [Int64] = []
        var depth: [Float] = []
        var normal: [Float] = []
        for (j, px) in pixels.pixels.enumerated() {
            let face = target.raster.triangleIds[px]
            guard face >= 0 else { continue }
            keep.append(Int64(j))
            depth.append(target.depth[px])
            let n = gtNormals[Int(face)]
            normal += [n.x, n.y, n.z]
        }
        guard !keep.isEmpty else { return [:] }
        let index = Tensor(int64: keep, shape: [keep.count])
        let predicted = pixels(vertices: vertices)
        let k = keep.count
        return [
            "depth":
                (predicted.depth.indexSelect(axis: 0, index: index)
                - Tensor(depth, shape: [k])).abs().mean(),
            "normal":
                (predicted.normal.indexSelect(axis: 0, index: index)
                - Tensor(normal, shape: [k, 3])).abs().mean() * 0.5,
        ]
    }

    private func posterior(
        _ mean: SparseTensor, _ logvar: SparseTensor, generator: inout RandomGenerator
    ) throws -> SparseTensor {
        switch latentMode {
        case .mean: return mean
        case .sample:
            let eps = Tensor.randn(mean.feats.shape, generator: &generator)  // [N, latent]
            return mean.replacing(feats: mean.feats + (logvar.feats * 0.5).exp() * eps)
        }
    }

    /// The sample's voxels and features as a one-item sparse tensor.
    private func inputTensor(_ s: SLatTrainingSample) throws -> SparseTensor {
        let r = decoder.config.trunk.resolution
        guard s.resolution == r else {
            throw LatticeError(
                .invalidArgument,
                "SLatVaeMeshDecoderTrainer: sample '\(s.id)' has resolution \(s.resolution), the decoder expects \(r)"
            )
        }
        let n = s.coords.count
        let expected = encoder?.config.inChannels ?? decoder.config.trunk.latentChannels
        guard s.featureChannels == expected, s.features.count == n * expected else {
            throw LatticeError(
                .shapeMismatch,
                "SLatVaeMeshDecoderTrainer: sample '\(s.id)' features are [\(n), \(s.featureChannels)] (\(s.features.count) values), expected [\(n), \(expected)]"
            )
        }
        var c = [Int32](repeating: 0, count: n * 4)  // [N, 4]
        for (i, p) in s.coords.enumerated() {
            c[i * 4 + 1] = p.x
            c[i * 4 + 2] = p.y
            c[i * 4 + 3] = p.z
        }
        return try SparseTensor(
            coords: Tensor(int32: c, shape: [n, 4]),
            feats: Tensor(s.features, shape: [n, s.featureChannels]), batchSize: 1,
            resolution: r)
    }

    /// Upstream `initialize_weights`: Xavier-uniform weights and zero biases for every linear
    /// layer (dense and sparse), PyTorch's default for the sparse convolutions, zero
    /// `out_layer`.
    public static func initialize(_ decoder: SLatMeshDecoder, generator: inout RandomGenerator) {
        decoder.resetParameters(generator: &generator)
        for (_, module) in decoder.namedModules() {
            let linear: (Parameter, Parameter?)?
            if let l = module as? Linear {
                linear = (l.weight, l.bias)
            } else if let l = module as? SparseLinear {
                linear = (l.weight, l.bias)
            } else {
                linear = nil
            }
            if let (w, b) = linear {
                let bound = (6 / Float(w.shape[0] + w.shape[1])).squareRoot()
                Initializer.uniform(w, bound: bound, generator: &generator)
                if let b { Initializer.constant(b, 0) }
                continue
            }
            if let conv = module as? SparseConv3d {
                // weight [O, kx, ky, kz, I]: fan_in = kx·ky·kz·I.
                let w = conv.conv.weight
                let bound = 1 / (Float(w.value.count / w.shape[0])).squareRoot()
                Initializer.uniform(w, bound: bound, generator: &generator)
                if let b = conv.conv.bias {
                    Initializer.uniform(b, bound: bound, generator: &generator)
                }
            }
        }
        Initializer.constant(decoder.outLayer.weight, 0)
        if let b = decoder.outLayer.bias { Initializer.constant(b, 0) }
    }
}

/// Per-item ground truth on the fine grid vertices of the decoder's output cubes.
struct GeometryTarget {
    /// Output rows (cubes) M.
    let rows: Int
    /// Cube coordinates (x, y, z) per row.
    let cubeCoords: [SIMD3<Int32>]
    /// The GT mesh.
    let mesh: TriangleMesh
    /// The sample's view cameras (rendered terms pick one per step).
    let cameras: [(extrinsics: Matrix4, intrinsics: Matrix3)]
    /// Grid vertex of each cube corner, int64 [8M] (corner order of `FlexiCubesTables.corners`).
    let cornerVertex: Tensor
    let vertexCount: Int
    /// Undeformed vertex positions (c/res - 0.5).
    let positions: [SIMD3<Float>]
    /// GT signed distance and its gradient at `positions`.
    let distance: [Float]
    let gradient: [SIMD3<Float>]
    /// GT colour at the closest surface point [V, 3], when the mesh has colours.
    let colors: [Float]?

    init(
        coords: Tensor, resolution r: Int, mesh: TriangleMesh, cameras: [(Matrix4, Matrix3)],
        sampleSpacing: Float, seed: UInt64
    ) throws {
        let c = coords.toInts()  // [M, 4]
        let m = coords.shape[0]
        let r1 = r + 1
        let cornerOffsets = FlexiCubesTables.corners
        var keys = [Int](repeating: 0, count: m * 8)
        for i in 0..<m {
            for k in 0..<8 {
                let o = cornerOffsets[k]
                let x = c[i * 4 + 1] + Int(o.x)
                let y = c[i * 4 + 2] + Int(o.y)
                let z = c[i * 4 + 3] + Int(o.z)
                keys[i * 8 + k] = (x * r1 + y) * r1 + z
            }
        }
        // Sorted unique keys, like upstream's torch.unique (the order only has to be fixed).
        var unique = keys
        unique.sort()
        var w = 0
        for k in unique where w == 0 || unique[w - 1] != k {
            unique[w] = k
            w += 1
        }
        unique.removeLast(unique.count - w)
        var lookup: [Int: Int] = [:]
        lookup.reserveCapacity(w)
        for (i, k) in unique.enumerated() { lookup[k] = i }
        cornerVertex = Tensor(int64: keys.map { Int64(lookup[$0] ?? 0) }, shape: [m * 8])
        rows = m
        var cubes = [SIMD3<Int32>](repeating: .zero, count: m)
        for i in 0..<m {
            let x = Int32(c[i * 4 + 1])
            let y = Int32(c[i * 4 + 2])
            let z = Int32(c[i * 4 + 3])
            cubes[i] = SIMD3(x, y, z)
        }
        cubeCoords = cubes
        self.mesh = mesh
        self.cameras = cameras.map { (extrinsics: $0.0, intrinsics: $0.1) }
        vertexCount = w
        let rf = Float(r)
        positions = unique.map { k in
            SIMD3(Float(k / (r1 * r1)), Float((k / r1) % r1), Float(k % r1)) / rf - 0.5
        }
        var generator = RandomGenerator(seed: 0x5DF0 &+ seed)
        let sdf = try MeshSignedDistance(
            mesh: mesh, sampleSpacing: sampleSpacing, generator: &generator)
        let samples = sdf.query(positions)
        distance = samples.map(\.distance)
        gradient = samples.map(\.gradient)
        if mesh.vertexColors != nil {
            var out = [Float](repeating: 0, count: w * 3)
            for (i, s) in samples.enumerated() {
                if let col = sdf.color(of: s) {
                    out[i * 3] = col.x
                    out[i * 3 + 1] = col.y
                    out[i * 3 + 2] = col.z
                }
            }
            colors = out
        } else {
            colors = nil
        }
    }

    /// TSDF targets at the deformed vertices given the current (detached) vertex attributes
    /// [V, channels] (sdf, deform, ...): (target [V], mask [V] 0/1, mask count).
    func tsdfTarget(
        vertexAttributes va: [Float], channels: Int, resolution: Int, truncation delta: Float,
        truncateInside: Bool
    ) -> ([Float], [Float], Int) {
        let scale = Float(1 - 1e-8) / Float(2 * resolution)
        var target = [Float](repeating: 0, count: vertexCount)
        var mask = [Float](repeating: 0, count: vertexCount)
        var count = 0
        for i in 0..<vertexCount {
            let d = SIMD3(
                tanhf(va[i * channels + 1]), tanhf(va[i * channels + 2]),
                tanhf(va[i * channels + 3]))
            let t = distance[i] + (gradient[i] * (scale * d)).sum()
            if truncateInside && !(t > -delta) { continue }
            target[i] = min(max(t, -delta), delta)
            mask[i] = 1
            count += 1
        }
        return (target, mask, count)
    }

    /// 1 for grid vertices within `truncation` of the surface, else 0 [V].
    func nearSurface(truncation: Float) -> [Float] {
        distance.map { abs($0) < truncation ? 1 : 0 }
    }
}
