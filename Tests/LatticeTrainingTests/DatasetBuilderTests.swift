// The data toolkit (`lattice data build`): camera conventions (Blender c2w <-> OpenCV), tiny
// datasets built, reloaded and compared with the in-memory procedural source, resumability,
// failed items, and the lightweight extractor's blur against its naive twin.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeNN
import LatticeTensor
import Testing

@testable import LatticeTraining

enum TinyData {
    static let options = SLatDatasetOptions(
        views: 4, imageSize: 32, resolution: 16, ssaa: 2, seed: 3)

    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}

@Suite struct DatasetBuilderTests {
    @Test func blenderCameraRoundTrip() throws {
        let cameras = DatasetCamera.trellisViews(count: 24, offset: (0.37, 0.81))
        for c in cameras {
            let e = try c.extrinsics()
            // extract_feature.py's conversion of the transforms.json matrix must give back the
            // camera we rendered with; float32 look-at vs double Blender frame: ~1e-6.
            let back = extrinsicsFromBlenderCameraToWorld(c.blenderCameraToWorld())
            #expect(TinyData.maxDiff(back, e) < 1e-5, "yaw \(c.yaw) pitch \(c.pitch)")
            // Lattice's (TRELLIS inference) yaw convention puts the eye at (sin, cos): yaw' =
            // pi/2 - yaw is the same camera.
            let (e2, k2) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: Double.pi / 2 - c.yaw, pitch: c.pitch, radius: c.radius, fovDegrees: 40)
            #expect(TinyData.maxDiff(e2, e) < 1e-5)
            #expect(TinyData.maxDiff(k2, c.intrinsics) < 1e-6)
            // The eye of the OpenCV camera is Blender's camera location.
            let eye = cameraCenter(extrinsics: e)
            let p = c.position
            #expect(
                abs(eye.x - Float(p.x)) + abs(eye.y - Float(p.y)) + abs(eye.z - Float(p.z)) < 1e-5)
            // Blender c2w columns: right has no z, back points away from the origin.
            let m = c.blenderCameraToWorld()
            #expect(abs(m[8]) < 1e-12)
            #expect(m[2] * p.x + m[6] * p.y + m[10] * p.z > 0)
        }
        // Remapped Hammersley pitch covers both hemispheres.
        #expect(cameras.contains { $0.pitch > 0.5 } && cameras.contains { $0.pitch < -0.5 })
    }

    @Test func buildReloadMatchesProceduralSource() throws {
        let dir = try Tiny.tempDir("slat-build")
        defer { try? FileManager.default.removeItem(at: dir) }
        let builder = SLatDatasetBuilder(
            root: dir, options: TinyData.options, extractor: ColorContextFeatureExtractor())
        let manifest = try builder.build(.procedural(count: 2, seed: 7))
        #expect(manifest.items.map(\.status) == [.done, .done])
        let folder = try FolderSLatDataset(root: dir)
        let memory = ProceduralSLatSource(
            shapes: ProceduralShapes(seed: 7), count: 2, options: TinyData.options)
        #expect(folder.count == 2)
        for i in 0..<2 {
            let a = try folder.sample(i)
            let b = try memory.sample(i)
            #expect(a.id == b.id)
            #expect(a.coords == b.coords)
            #expect(a.coords.count == manifest.items[i].numVoxels)
            #expect(a.coords.count > 20)
            #expect(a.featureChannels == 16 && a.features.count == a.coords.count * 16)
            // Stored as float16: relative error 2^-11 on values of order 1.
            #expect(TinyData.maxDiff(a.features, b.features) < 2e-3)
            #expect(a.views.count == 4)
            for (va, vb) in zip(a.views, b.views) {
                // transforms.json -> OpenCV extrinsics equals the rendering camera.
                #expect(TinyData.maxDiff(va.extrinsics, vb.extrinsics) < 1e-5)
                #expect(TinyData.maxDiff(va.intrinsics, vb.intrinsics) < 1e-5)
                // PNG round trip of 8-bit-quantized pixels is exact up to float rounding.
                #expect(TinyData.maxDiff(va.rgba, vb.rgba) < 1e-6)
            }
            // Every voxel centre lies within half a voxel diagonal of the surface, so it
            // projects onto (or within ~1 px of) the rendered silhouette in every view.
            var inside = 0
            var total = 0
            let centres = Voxelizer.voxelCentres(a.coords, resolution: a.resolution)
            for v in a.views {
                for p in centres {
                    let e = v.extrinsics
                    let k = v.intrinsics
                    let z = e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11]
                    let u = (k[0] * (e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3])) / z + k[2]
                    let w = (k[4] * (e[4] * p.x + e[5] * p.y + e[6] * p.z + e[7])) / z + k[5]
                    let (px, py) = (Int(u * 32), Int(w * 32))
                    var alpha: Float = 0
                    for dy in -1...1 {
                        for dx in -1...1 {
                            let (x, y) = (px + dx, py + dy)
                            if x >= 0, y >= 0, x < 32, y < 32 {
                                alpha = max(alpha, v.rgba[(y * 32 + x) * 4 + 3])
                            }
                        }
                    }
                    total += 1
                    if alpha > 0 { inside += 1 }
                }
            }
            #expect(inside == total, "\(total - inside) of \(total) voxel projections miss")
            // Colour channels carry the shape's colours: some voxel has a visible colour.
            #expect(a.features.enumerated().contains { $0.offset % 16 < 3 && $0.element > 0.05 })
            #expect(a.mesh?.faces.count == b.mesh?.faces.count)
        }
        // Fewer views per item, spread over the sphere.
        let two = try FolderSLatDataset(root: dir, viewsPerItem: 2, loadMesh: false)
        let s = try two.sample(1)
        #expect(s.views.count == 2 && s.mesh == nil)
        let all = try folder.sample(1)
        #expect(s.views[1].extrinsics == all.views[2].extrinsics)
        // Upstream file layout.
        let item = dir.appendingPathComponent("items/shape_000000")
        for f in ["renders/transforms.json", "renders/000.png", "mesh.ply", "voxels.ply"] {
            #expect(FileManager.default.fileExists(atPath: item.appendingPathComponent(f).path))
        }
        let feats = try SafetensorsFile(url: item.appendingPathComponent("features.safetensors"))
        #expect(try feats.tensor("indices").dtype == .uint8)
        #expect(try feats.tensor("patchtokens").dtype == .float16)
        #expect(
            try MeshPLY.readPointCloud(item.appendingPathComponent("voxels.ply")).positions.count
                == manifest.items[0].numVoxels)
    }

    @Test func resumeSkipsFinishedAndRedoesInterrupted() throws {
        let dir = try Tiny.tempDir("slat-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = SLatDatasetOptions(views: 2, imageSize: 16, resolution: 8, ssaa: 1, seed: 1)
        let builder = SLatDatasetBuilder(
            root: dir, options: options, extractor: ColorContextFeatureExtractor())
        try builder.build(.procedural(count: 2, seed: 4))
        let items = dir.appendingPathComponent("items")
        let first = items.appendingPathComponent("shape_000000/features.safetensors")
        let before = try Data(contentsOf: first)
        let stamp = try FileManager.default.attributesOfItem(atPath: first.path)[.modificationDate]
        // Simulate a crash while item 1 was being written: its folder never got renamed.
        try FileManager.default.moveItem(
            at: items.appendingPathComponent("shape_000001"),
            to: items.appendingPathComponent(".tmp-shape_000001"))
        try Data("half".utf8).write(
            to: items.appendingPathComponent(".tmp-shape_000001/features.safetensors"))
        var last: SLatBuildProgress?
        let manifest = try builder.build(.procedural(count: 3, seed: 4)) { last = $0 }
        #expect(last?.skipped == 1 && last?.built == 2 && last?.failed == 0)
        #expect(manifest.items.allSatisfy { $0.status == .done })
        #expect(try Data(contentsOf: first) == before)
        #expect(
            try FileManager.default.attributesOfItem(atPath: first.path)[.modificationDate] as? Date
                == stamp as? Date)
        #expect(
            !FileManager.default.fileExists(
                atPath: items.appendingPathComponent(".tmp-shape_000001").path))
        #expect(try FolderSLatDataset(root: dir).sample(1).coords.count > 0)
        // Another run asking for different settings is refused rather than mixing items.
        var other = options
        other.resolution = 16
        #expect(throws: LatticeError.self) {
            try SLatDatasetBuilder(
                root: dir, options: other, extractor: ColorContextFeatureExtractor()
            )
            .build(.procedural(count: 3, seed: 4))
        }
    }

    @Test func brokenMeshesFailTheirItemOnly() throws {
        let dir = try Tiny.tempDir("slat-broken")
        defer { try? FileManager.default.removeItem(at: dir) }
        let meshes = dir.appendingPathComponent("meshes")
        try FileManager.default.createDirectory(at: meshes, withIntermediateDirectories: true)
        var box = ProceduralShapes.box(size: SIMD3(1, 2, 1), subdivisions: 2)
        box.vertexColors = box.vertices.map { _ in SIMD3(0.8, 0.2, 0.1) }
        try writeMesh(box, to: meshes.appendingPathComponent("box.obj"))
        try Data("v 0 0 0\nv 1 0 0\nf 1 2 7\n".utf8).write(
            to: meshes.appendingPathComponent("bad.obj"))
        try Data("v 0 0 0\nv 1 0 0\nv 0 1 0\n".utf8).write(
            to: meshes.appendingPathComponent("empty.obj"))
        try Data("not a mesh".utf8).write(to: meshes.appendingPathComponent("notes.txt"))
        let out = dir.appendingPathComponent("data")
        let manifest = try SLatDatasetBuilder(
            root: out, options: TinyData.options, extractor: ColorContextFeatureExtractor()
        ).build(.meshFolder(meshes))
        let byID = Dictionary(uniqueKeysWithValues: manifest.items.map { ($0.id, $0) })
        #expect(manifest.items.count == 3)
        #expect(byID["box"]?.status == .done)
        for name in ["bad", "empty"] {
            #expect(byID[name]?.status == .failed)
            #expect(
                byID[name]?.error?.contains("\(name).obj") == true, "\(byID[name]?.error ?? "")")
        }
        let data = try FolderSLatDataset(root: out)
        #expect(data.count == 1)
        let sample = try data.sample(0)
        // Normalised to unit max extent, centred: the box spans y in [-0.5, 0.5].
        let b = try #require(sample.mesh?.bounds)
        #expect(abs(b.max.y - 0.5) < 1e-5 && abs(b.min.y + 0.5) < 1e-5)
        // A missing file is an error naming it.
        try FileManager.default.removeItem(at: out.appendingPathComponent("items/box/mesh.ply"))
        do {
            _ = try data.sample(0)
            Issue.record("expected an error")
        } catch let e as LatticeError {
            #expect(e.message.contains("items/box/mesh.ply"))
        }
    }

    @Test func featureAveragingMatchesGridSample() throws {
        // The accumulator's projection + bilinear sampling against the tensor engine's
        // grid_sample(align_corners=False) on uv·2 - 1, averaged over views (upstream).
        let mesh = ProceduralShapes(seed: 2).shape(0).mesh
        let cameras = DatasetCamera.trellisViews(count: 3, offset: (0.2, 0.6))
        let views = try cameras.map { try renderDatasetView(mesh, camera: $0, size: 24, ssaa: 1) }
        let coords = Voxelizer.voxelizeSurface(mesh, resolution: 12)
        let n = coords.count
        var g = RandomGenerator(seed: 5)
        let (c, h, w) = (3, 5, 7)
        let maps = views.map { _ in
            FeatureMap(width: w, height: h, channels: c, values: g.uniform(count: h * w * c))
        }
        var acc = VoxelFeatureAccumulator(
            coords: coords, resolution: 12, channels: c, visibilityTest: false)
        for (v, m) in zip(views, maps) { acc.add(v, m) }
        let fast = acc.result()
        var reference = [Float](repeating: 0, count: n * c)
        let centres = Voxelizer.voxelCentres(coords, resolution: 12)
        for (v, m) in zip(views, maps) {
            let x = Tensor(m.values, shape: [1, h, w, c]).permute([0, 3, 1, 2]).contiguous()  // [1, C, H, W]
            var grid: [Float] = []
            for p in centres {
                let e = v.view.extrinsics
                let k = v.view.intrinsics
                let z = e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11]
                let u = (k[0] * (e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3])) / z + k[2]
                let t = (k[4] * (e[4] * p.x + e[5] * p.y + e[6] * p.z + e[7])) / z + k[5]
                grid += [u * 2 - 1, t * 2 - 1]
            }
            let s = gridSample(x, grid: Tensor(grid, shape: [1, 1, n, 2])).toFloats()  // [1, C, 1, N]
            for i in 0..<n {
                for j in 0..<c { reference[i * c + j] += s[j * n + i] / Float(views.count) }
            }
        }
        // Same bilinear weights, different summation order: float32 rounding only.
        #expect(TinyData.maxDiff(fast, reference) < 1e-5)
    }

    @Test func dinoV2ExtractorOnATinyModel() throws {
        // A random 2-block ViT with registers stands in for ViT-L/14 (same code path: resize,
        // premultiply, normalise, x_prenorm minus 1 + 4 tokens, patch grid).
        var config = DinoVisionTransformer.Config()
        config.imgSize = 28
        config.patchSize = 14
        config.embedDim = 8
        config.depth = 2
        config.numHeads = 2
        config.numRegisterTokens = 4
        // Constructed weights are zeros (they are meant to be loaded); draw random ones so the
        // tokens carry signal.
        let model = try DinoVisionTransformer(config)
        var g = RandomGenerator(seed: 3)
        model.resetParameters(generator: &g)
        for (_, p) in model.namedParameters() where p.value.rank >= 2 {
            Initializer.normal(p, std: 0.2, generator: &g)
        }
        let extractor = DinoV2FeatureExtractor(model: model, name: "tiny-dino", batchSize: 3)
        let source = ProceduralSLatSource(
            shapes: ProceduralShapes(seed: 1), count: 1, options: TinyData.options,
            extractor: extractor)
        let s = try source.sample(0)
        #expect(s.featureChannels == 8 && s.features.count == s.coords.count * 8)
        #expect(s.features.allSatisfy { $0.isFinite })
        // Upstream averages over all views, so no voxel's feature is exactly zero.
        #expect(s.features.contains { $0 != 0 })
        let maps = try extractor.featureMaps(
            [RenderedDatasetView(view: s.views[0], depth: [Float](repeating: 0, count: 32 * 32))])
        #expect(maps[0].width == 2 && maps[0].height == 2 && maps[0].values.count == 2 * 2 * 8)
    }

    @Test func boxBlurMatchesNaiveTwin() {
        var g = RandomGenerator(seed: 9)
        let (w, h, c) = (13, 9, 2)
        let x = g.uniform(count: w * h * c)
        let sigma: Float = 1.7
        let fast = boxBlur3(x, width: w, height: h, channels: c, sigma: sigma)
        let r = max(1, Int(((4 * sigma * sigma + 1).squareRoot() - 1) / 2 + 0.5))
        // Naive: direct windowed means with zero padding, three times per axis.
        var a = x
        for _ in 0..<3 {
            for axis in 0..<2 {
                var b = [Float](repeating: 0, count: a.count)
                for yy in 0..<h {
                    for xx in 0..<w {
                        for ch in 0..<c {
                            var s: Float = 0
                            for d in -r...r {
                                let (sx, sy) = axis == 0 ? (xx + d, yy) : (xx, yy + d)
                                if sx >= 0, sy >= 0, sx < w, sy < h {
                                    s += a[(sy * w + sx) * c + ch]
                                }
                            }
                            b[(yy * w + xx) * c + ch] = s / Float(2 * r + 1)
                        }
                    }
                }
                a = b
            }
        }
        // Running sums vs direct sums in float32: a few ulps of values ≤ 1.
        #expect(TinyData.maxDiff(fast, a) < 1e-5)
    }
}
