// The layered-depth prior's geometry: its training targets must line up with the photos the model
// sees, and lifting true depth maps must give back the shape's own surface voxels, or no amount
// of training makes the lifted structure right.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticePipelines
import LatticeTensor
import Testing

@testable import LatticeTraining

@Suite struct LayeredDepthTests {
    /// Held-out shapes and their photos' cameras (the demo's example cameras).
    func photo(_ item: Int) throws -> (
        mesh: TriangleMesh, camera: (extrinsics: Matrix4, intrinsics: Matrix3), photo: PixelImage
    ) {
        let mesh = EmbeddedDefault.shapes.shape(item).mesh
        let camera = try ConditionPhotoBank.camera(item: item, view: 0)
        return (
            mesh, camera, PixelImage(try EmbeddedDefault.photo(mesh, camera: camera, size: 192))
        )
    }

    @Test func targetCropMatchesThePhotosCrop() throws {
        // Training targets take the crop from projected vertices (no render); the photo's crop
        // comes from its alpha > 0.8 pixels. They must agree to within two pixels of 192
        // (measured: equal on four of six shapes, 1-2 px off on the box's sharp corners, where
        // an antialiased corner pixel's coverage decides; the box side is 1.2× that, rounded).
        for item in EmbeddedDefault.heldOutStart..<(EmbeddedDefault.heldOutStart + 6) {
            let (mesh, camera, photo) = try photo(item)
            let fromVertices = LayeredDepthTarget.crop(mesh, camera: camera, photoResolution: 192)
            let fromPhoto = try ImagePreprocess.cropFrame(photo, source: "shape \(item)")
            let px = 1.0 / 192
            #expect(abs(fromVertices.u0 - fromPhoto.u0) <= 2.5 * px, "shape \(item) u0")
            #expect(abs(fromVertices.v0 - fromPhoto.v0) <= 2.5 * px, "shape \(item) v0")
            #expect(abs(fromVertices.width - fromPhoto.width) <= 3 * px, "shape \(item) width")
            #expect(abs(fromVertices.height - fromPhoto.height) <= 3 * px, "shape \(item) height")
        }
    }

    @Test func targetMaskMatchesThePhotosAlpha() throws {
        // The rasterized coverage and the photo's own alpha (in the same crop, 56²) agree: IoU >
        // 0.9 (measured on these shapes 0.95-0.98; edge pixels are half covered in one and a
        // centre test in the other).
        for item in EmbeddedDefault.heldOutStart..<(EmbeddedDefault.heldOutStart + 6) {
            let (mesh, camera, photo) = try photo(item)
            let crop = try ImagePreprocess.cropFrame(photo, source: "shape \(item)")
            let maps = LayeredDepthTarget.maps(
                mesh, camera: camera,
                crop: .init(u0: crop.u0, v0: crop.v0, width: crop.width, height: crop.height),
                grid: 56)
            let alpha = try ImagePreprocess.alphaMask(photo, size: 56, source: "shape \(item)")
            var (i, u) = (0, 0)
            for k in alpha.indices {
                let a = alpha[k] > 0.5
                let b = maps.mask[k] > 0.5
                if a && b { i += 1 }
                if a || b { u += 1 }
            }
            #expect(Double(i) / Double(u) > 0.9, "shape \(item): IoU \(Double(i) / Double(u))")
            // Front never behind back, and both within the unit cube's reach of the origin.
            for k in maps.mask.indices where maps.mask[k] > 0 {
                #expect(maps.front[k] <= maps.back[k])
                #expect(abs(maps.front[k]) < 0.9 && abs(maps.back[k]) < 0.9)
            }
        }
    }

    @Test func liftingTrueDepthGivesTheSurfaceVoxels() throws {
        // With true maps and the true camera the lift reproduces the shape's surface voxels:
        // voxel F (one cell) > 0.95 for the single box and the merged spheres (convex along each
        // ray; measured 1.00 and 0.99), and lower only where a ray crosses the shape twice (the
        // front-back interval fills the gap).
        let data = ProceduralVoxelDataset(
            shapes: EmbeddedDefault.shapes, count: EmbeddedDefault.heldOutStart + 6,
            resolution: EmbeddedDefault.resolution)
        for item in [EmbeddedDefault.heldOutStart + 0, EmbeddedDefault.heldOutStart + 5] {
            let (mesh, camera, photo) = try photo(item)
            let c = try ImagePreprocess.cropFrame(photo, source: "shape \(item)")
            let crop = LayeredDepthLift.Crop(u0: c.u0, v0: c.v0, width: c.width, height: c.height)
            let maps = LayeredDepthTarget.maps(mesh, camera: camera, crop: crop, grid: 56)
            let r = EmbeddedDefault.resolution
            let truth = try data.coords(item)
            let cells = LayeredDepthLift.surface(
                front: maps.front, back: maps.back, mask: maps.mask, grid: 56, crop: crop,
                camera: camera, resolution: r)
            var voxels: [SIMD3<Int32>] = []
            for i in cells.indices where cells[i] > 0.5 {
                voxels.append(SIMD3(Int32(i / (r * r)), Int32(i / r % r), Int32(i % r)))
            }
            let f = EmbeddedDefault.structureScore(sampled: voxels, truth: truth).fScore
            #expect(f > 0.95, "shape \(item): voxel F \(f)")
            // Maps shifted along the rays by 0.15 (≈ 5 cells) put the surface elsewhere: the
            // score sees it (so it is not satisfied by any outline-shaped set).
            let shifted = LayeredDepthLift.surface(
                front: maps.front.map { $0 + 0.15 }, back: maps.back.map { $0 + 0.15 },
                mask: maps.mask, grid: 56, crop: crop, camera: camera, resolution: r)
            var moved: [SIMD3<Int32>] = []
            for i in shifted.indices where shifted[i] > 0.5 {
                moved.append(SIMD3(Int32(i / (r * r)), Int32(i / r % r), Int32(i % r)))
            }
            let fMoved = EmbeddedDefault.structureScore(sampled: moved, truth: truth).fScore
            #expect(fMoved < f - 0.2, "shape \(item): shifted voxel F \(fMoved)")
        }
    }

    @Test func occupancyDiceGradientMatchesFiniteDifferences() {
        // The compensation's 3D Dice (ReconViaGen's ss_refine loss) against central differences
        // in float64 sums: step 1e-2 on p ∈ (0.1, 0.9); tolerance 1e-3 relative to the largest
        // component (the float32 step's rounding is ~1e-5 of it, the O(h²) truncation of a
        // ratio of sums over 300 cells smaller still).
        var rng = RandomGenerator(seed: 5)
        let n = 300
        let p = rng.uniform(count: n).map { 0.1 + 0.8 * $0 }
        let t = rng.uniform(count: n).map { $0 > 0.6 ? Float(1) : 0 }
        let (_, g) = StructureGuidance.occupancyDice(p, target: t)
        let scale = g.map { abs($0) }.max() ?? 1
        for i in stride(from: 0, to: n, by: 17) {
            var a = p
            var b = p
            a[i] += 1e-2
            b[i] -= 1e-2
            let h = Double(a[i]) - Double(b[i])
            let fd =
                (StructureGuidance.occupancyDice(a, target: t).loss
                    - StructureGuidance.occupancyDice(b, target: t).loss) / h
            #expect(abs(fd - Double(g[i])) < 1e-3 * Double(scale), "cell \(i)")
        }
    }

    @Test func pretrainingLearnsAndTheModelRoundTrips() throws {
        // 4 shapes, 2 views: 40 steps of the depth objective must cut its loss well below the
        // first steps' (a memorisable set; a dead gradient path leaves it flat: 5-step means then
        // differ by batch noise, a few percent). Measured 0.31 -> 0.08.
        let bank = try ConditionPhotoBank.render(count: 4, views: 2, photoResolution: 128)
        var g = RandomGenerator(seed: 3)
        let model = try LayeredDepthModel(EmbeddedDefault.layeredDepthConfig)
        model.resetParameters(generator: &g)
        EmbeddedDefault.initializeImageEncoder(model.encoder, generator: &g)
        let objective = LayeredDepthPretraining(model: model, bank: bank, photoResolution: 128)
        var options = TrainerOptions(maxSteps: 40)
        options.batchSize = 4
        options.learningRate = 1e-3
        options.emaRates = []
        options.seed = 1
        let trainer = try Trainer(objective: objective, options: options)
        objective.trainer = trainer
        try trainer.run()
        let losses = trainer.history.map(\.loss)
        let first = losses.prefix(5).reduce(0, +) / 5
        let last = losses.suffix(5).reduce(0, +) / 5
        #expect(last < 0.7 * first, "layered-depth loss \(first) -> \(last)")

        // Written as the packaged folder holds it, it loads back to the same prediction.
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("layered-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try JSONEncoder().encode(EmbeddedDefault.layeredDepthConfig)
            .write(to: dir.appendingPathComponent("layered_depth.json"))
        try Safetensors.write(
            model.stateDict(), to: dir.appendingPathComponent("layered_depth.safetensors"))
        let back = try LayeredDepthModel.load(folder: dir, stem: "layered_depth")
        let photo = bank.batch([1], views: [0])
        let a = try model.predict(photo)
        let b = try back.predict(photo)
        #expect(a.front == b.front && a.back == b.back && a.yaw == b.yaw)
        #expect(a.front.count == 56 * 56)

        // A config that does not fit the encoder is named with its file.
        var bad = EmbeddedDefault.layeredDepthConfig
        bad.grid = 40
        try JSONEncoder().encode(bad).write(to: dir.appendingPathComponent("bad.json"))
        let error = #expect(throws: LatticeError.self) {
            try LayeredDepthModel.load(folder: dir, stem: "bad")
        }
        #expect(error?.message.contains("bad.json") == true)
        #expect(error?.message.contains("grid 40") == true)
        // Missing weights name the file.
        try FileManager.default.removeItem(
            at: dir.appendingPathComponent("layered_depth.safetensors"))
        let missing = #expect(throws: LatticeError.self) {
            try LayeredDepthModel.load(folder: dir, stem: "layered_depth")
        }
        #expect(missing?.message.contains("layered_depth.safetensors") == true)
    }
}
