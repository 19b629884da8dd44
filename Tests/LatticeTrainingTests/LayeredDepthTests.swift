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

    @Test func twoIntervalsKeepTheGapAndLiftBetter() throws {
        // Two spheres of radius 0.2 on the ray through the origin, centres 0.3 before and after
        // it: that ray is inside on [-0.5, -0.1] and [0.1, 0.5] (camera depth minus the camera's
        // distance). Tolerance 0.01: the 48-segment tessellation's chord error is 0.2 x (1 -
        // cos(π/48)) < 0.001, and the pixel nearest the axis is within half a pixel of it (less
        // than 0.004 of crop; the sphere's depth changes by under 1e-4 there).
        let camera = try ConditionPhotoBank.camera(item: 3, view: 0)
        let e = camera.extrinsics
        // Camera centre = -Rᵀt; the direction to the origin is its negative, normalised.
        let t = SIMD3<Float>(e[3], e[7], e[11])
        let centre = -SIMD3<Float>(
            e[0] * t.x + e[4] * t.y + e[8] * t.z, e[1] * t.x + e[5] * t.y + e[9] * t.z,
            e[2] * t.x + e[6] * t.y + e[10] * t.z)
        let toward = -centre / (centre * centre).sum().squareRoot()
        func spheres(_ offset: Float, along axis: SIMD3<Float>) -> TriangleMesh {
            var mesh = TriangleMesh(vertices: [], faces: [])
            for c in [-offset, offset] {
                let s = ProceduralShapes.ellipsoid(radii: SIMD3(repeating: 0.2), segments: 48)
                let base = Int32(mesh.vertices.count)
                mesh.vertices += s.vertices.map { $0 + c * axis }
                mesh.faces += s.faces.map { $0 &+ SIMD3(repeating: base) }
            }
            return mesh
        }
        let apart = spheres(0.3, along: toward)
        let crop = LayeredDepthTarget.crop(apart, camera: camera, photoResolution: 192)
        let maps = LayeredDepthTarget.maps(apart, camera: camera, crop: crop, grid: 56)
        // The pixel nearest the origin's projection.
        let k = camera.intrinsics
        let u = Double(k[0] * e[3] / e[11] + k[2])
        let v = Double(k[4] * e[7] / e[11] + k[5])
        let px = min(55, max(0, Int((u - crop.u0) / crop.width * 56)))
        let py = min(55, max(0, Int((v - crop.v0) / crop.height * 56)))
        let i = py * 56 + px
        #expect(maps.mask[i] == 1)
        #expect(abs(maps.front[i] + 0.5) < 0.01, "front \(maps.front[i])")
        #expect(abs(maps.firstExit[i] + 0.1) < 0.01, "first exit \(maps.firstExit[i])")
        #expect(abs(maps.lastEntry[i] - 0.1) < 0.01, "last entry \(maps.lastEntry[i])")
        #expect(abs(maps.back[i] - 0.5) < 0.01, "back \(maps.back[i])")

        // Overlapping side by side (centres 0.1 from the origin across the view): one solid
        // whose every ray crosses both spheres around the same depth, so it has one interval
        // (the faces of each sphere inside the other split nothing) and the gap maps are the
        // back and front themselves, exactly. (Only where the two outlines cross can a ray graze
        // both rims apart: allow 1% of the pixels.) Along the view the same pair has a waist,
        // and rays near its rim do cross two intervals.
        let side =
            SIMD3<Float>(toward.y, -toward.x, 0)
            / (toward.x * toward.x + toward.y * toward.y)
            .squareRoot()
        let merged = spheres(0.1, along: side)
        let mergedCrop = LayeredDepthTarget.crop(merged, camera: camera, photoResolution: 192)
        let one = LayeredDepthTarget.maps(merged, camera: camera, crop: mergedCrop, grid: 56)
        let covered = one.mask.filter { $0 > 0 }.count
        let single = one.mask.indices.filter {
            one.mask[$0] > 0 && one.firstExit[$0] == one.back[$0]
                && one.lastEntry[$0] == one.front[$0]
        }.count
        #expect(covered > 500 && single >= covered * 99 / 100, "\(single) of \(covered) single")

        // On the held-out shape with a hidden part behind a gap (three cylinders and a torus),
        // lifting its true maps with the gap beats front and back alone by a clear margin
        // (measured voxel F 0.957 against 0.877; on one-interval shapes the two are equal).
        let item = EmbeddedDefault.heldOutStart + 1
        let data = ProceduralVoxelDataset(
            shapes: EmbeddedDefault.shapes, count: item + 1, resolution: EmbeddedDefault.resolution)
        let (mesh, cam, photo) = try photo(item)
        let c = try ImagePreprocess.cropFrame(photo, source: "shape \(item)")
        let frame = LayeredDepthLift.Crop(u0: c.u0, v0: c.v0, width: c.width, height: c.height)
        let truth = LayeredDepthTarget.maps(mesh, camera: cam, crop: frame, grid: 56)
        let r = EmbeddedDefault.resolution
        func voxelF(_ gap: ([Float], [Float])?) throws -> Double {
            let cells = LayeredDepthLift.surface(
                front: truth.front, back: truth.back, gap: gap, mask: truth.mask, grid: 56,
                crop: frame, camera: cam, resolution: r)
            var voxels: [SIMD3<Int32>] = []
            for i in cells.indices where cells[i] > 0.5 {
                voxels.append(SIMD3(Int32(i / (r * r)), Int32(i / r % r), Int32(i % r)))
            }
            return EmbeddedDefault.structureScore(sampled: voxels, truth: try data.coords(item))
                .fScore
        }
        let withGap = try voxelF((truth.firstExit, truth.lastEntry))
        let without = try voxelF(nil)
        #expect(withGap > without + 0.04, "voxel F \(withGap) with the gap, \(without) without")
        // The gap maps of a one-interval ray reduce the lift to the one interval exactly.
        #expect(try voxelF((truth.back, truth.front)) == without)
    }

    @Test func oneIntervalPriorExtendsToTwoAtTheSameMaps() throws {
        // A one-interval prior's weights adapted to two intervals: the new channels copy the
        // back (first exit) and front (last entry) filters, so the maps are the earlier ones
        // and the gap maps equal them to the bit (same filters, same inputs); the lifted
        // surface is therefore the same.
        var g = RandomGenerator(seed: 12)
        let one = try LayeredDepthModel(
            EmbeddedDefault.layeredDepthConfig(refineChannels: 8, cropInput: true))
        one.resetParameters(generator: &g)
        // A live refiner output, so its channels are checked too.
        one.refiner?.output.bias?.assign(Tensor([0.1, -0.2], shape: [2]))
        let two = try LayeredDepthModel(
            EmbeddedDefault.layeredDepthConfig(refineChannels: 8, cropInput: true, intervals: 2))
        two.resetParameters(generator: &g)
        let adapted = EmbeddedDefault.adaptLayeredDepthWeights(one.stateDict(), to: two)
        #expect(adapted["head.out.weight"]?.shape.first == 4)
        try two.load(adapted)
        let photo = try ConditionPhotoBank.render(count: 1, views: 1, photoResolution: 96)
            .batch([0], views: [0])
        let crop = LayeredDepthLift.Crop(u0: 0.2, v0: 0.25, width: 0.6, height: 0.5)
        let a = try one.predict(photo, crop: crop)
        let b = try two.predict(photo, crop: crop)
        #expect(a.gap == nil)
        let gap = try #require(b.gap)
        let drift = zip(a.front + a.back, b.front + b.back).map { abs($0 - $1) }.max() ?? 0
        #expect(drift < 1e-5, "maps moved by \(drift)")
        #expect(gap.firstExit == b.back && gap.lastEntry == b.front)
        // The packaged config follows the weights (4 outputs of head.out: two intervals), and
        // round-trips through JSON.
        let config = EmbeddedDefault.layeredDepthConfig(matching: two.stateDict())
        #expect(config.depthChannels == 4 && config.intervals == 2)
        let decoded = try JSONDecoder().decode(
            LayeredDepthConfig.self, from: try JSONEncoder().encode(config))
        #expect(decoded.intervals == 2)
        #expect(EmbeddedDefault.layeredDepthConfig(matching: one.stateDict()).intervals == nil)
        // Any other count is named.
        var bad = config
        bad.intervals = 3
        let error = #expect(throws: LatticeError.self) { try bad.validate(source: "ld.json") }
        #expect(error?.message.contains("intervals is 3") == true)
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
        let model = try LayeredDepthModel(EmbeddedDefault.layeredDepthConfig())
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
        try JSONEncoder().encode(EmbeddedDefault.layeredDepthConfig())
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
        var bad = EmbeddedDefault.layeredDepthConfig()
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

    @Test func refinerStartsAsNoCorrection() throws {
        // The U-Net's last convolution starts at zero, so a prior trained without it keeps its
        // maps exactly when the U-Net is added (the fine-tuning starts from them): same
        // weights elsewhere, same prediction, to the bit.
        var g = RandomGenerator(seed: 5)
        let plain = try LayeredDepthModel(EmbeddedDefault.layeredDepthConfig(refineChannels: 0))
        plain.resetParameters(generator: &g)
        let refined = try LayeredDepthModel(EmbeddedDefault.layeredDepthConfig(refineChannels: 8))
        refined.resetParameters(generator: &g)
        #expect(refined.refiner != nil && plain.refiner == nil)
        var weights = plain.stateDict()
        for (key, value) in refined.stateDict() where key.hasPrefix("head.refine.") {
            weights[key] = value
        }
        try refined.load(weights)
        let photo = try ConditionPhotoBank.render(count: 1, views: 1, photoResolution: 96)
            .batch([0], views: [0])
        let a = try plain.predict(photo)
        let b = try refined.predict(photo)
        #expect(a.front == b.front && a.back == b.back)

        // Its gradient path is live: with a non-zero last layer the maps change.
        refined.refiner?.output.bias?.assign(Tensor([0.25, -0.25], shape: [2]))
        let c = try refined.predict(photo)
        // (The last layer's weights are still zero, so the correction is its bias exactly.)
        #expect(zip(a.front, c.front).allSatisfy { abs($1 - $0 - 0.25) < 1e-5 })
        #expect(zip(a.back, c.back).allSatisfy { abs($1 - $0 + 0.25) < 1e-5 })

        // The packaged config follows the weights: refine width from head.refine.down.0.
        #expect(EmbeddedDefault.layeredDepthConfig(matching: weights).refineChannels == 8)
        #expect(
            EmbeddedDefault.layeredDepthConfig(matching: plain.stateDict()).refineChannels == nil)
        // A width the three halvings cannot take is named.
        var bad = EmbeddedDefault.layeredDepthConfig()
        bad.refineChannels = -4
        let error = #expect(throws: LatticeError.self) {
            try bad.validate(source: "ld.json")
        }
        #expect(error?.message.contains("refine_channels -4") == true)
    }

    @Test func cropPlanesStartAsNoChangeAndAreRead() throws {
        // Each map pixel's centre in the photo's normalised frame, as 2u - 1 and 2v - 1: pixel
        // (0, 0) of a 4² grid over the crop at (0.25, 0.5) of size 0.5 x 0.25 has its centre at
        // u = 0.25 + 0.5 / 8 = 0.3125, v = 0.5 + 0.25 / 8 = 0.53125; pixel (3, 3) at 0.6875 and
        // 0.71875. (Exact in binary floating point.)
        let crop = LayeredDepthLift.Crop(u0: 0.25, v0: 0.5, width: 0.5, height: 0.25)
        let planes = LayeredDepthModel.cropPlanes([crop], grid: 4).contiguous().toFloats()
        #expect(planes.count == 2 * 16)
        #expect(planes[0] == -0.375 && planes[16] == 0.0625)
        #expect(planes[15] == 0.375 && planes[31] == 0.4375)
        // Columns vary along u only, rows along v only.
        #expect(planes[4] == planes[0] && planes[16 + 1] == planes[16])

        // An earlier prior adapted to read the planes (zero weights for them in head.fuse.0)
        // gives its own maps, whatever the crop: the fine-tuning starts from them. The zero
        // terms are exact, but the longer reduction of head.fuse.0 (66 x 9 inputs, not 64 x 9)
        // is blocked differently by the GEMM, so the earlier prior's maps come back to float32
        // rounding (depths of order 0.5: 1e-5), and the two crops' to the bit.
        var g = RandomGenerator(seed: 11)
        let plain = try LayeredDepthModel(EmbeddedDefault.layeredDepthConfig(refineChannels: 8))
        plain.resetParameters(generator: &g)
        let reading = try LayeredDepthModel(
            EmbeddedDefault.layeredDepthConfig(refineChannels: 8, cropInput: true))
        reading.resetParameters(generator: &g)
        try reading.load(EmbeddedDefault.adaptLayeredDepthWeights(plain.stateDict(), to: reading))
        let photo = try ConditionPhotoBank.render(count: 1, views: 1, photoResolution: 96)
            .batch([0], views: [0])
        let other = LayeredDepthLift.Crop(u0: 0.1, v0: 0.2, width: 0.7, height: 0.7)
        let a = try plain.predict(photo)
        let b = try reading.predict(photo, crop: crop)
        let c = try reading.predict(photo, crop: other)
        let drift = zip(a.front + a.back, b.front + b.back).map { abs($0 - $1) }.max() ?? 0
        #expect(drift < 1e-5, "the adapted prior's maps moved by \(drift)")
        #expect(b.front == c.front && b.back == c.back)

        // The planes are read: with weights on them, another crop moves the maps (the same
        // crop twice gives the same bits).
        let w = reading.fuse0.weight.value.contiguous().toFloats()
        let shape = reading.fuse0.weight.shape
        #expect(shape[1] == 66)
        var moved = w
        let plane = shape[2] * shape[3]
        for o in 0..<shape[0] {
            for i in 64..<66 {
                for k in 0..<plane { moved[(o * shape[1] + i) * plane + k] = 0.05 }
            }
        }
        reading.fuse0.weight.assign(Tensor(moved, shape: shape))
        let d = try reading.predict(photo, crop: crop)
        let e = try reading.predict(photo, crop: other)
        let f = try reading.predict(photo, crop: crop)
        #expect(d.front == f.front)
        let change = zip(d.front, e.front).map { abs($0 - $1) }.max() ?? 0
        #expect(change > 1e-4, "maps moved by \(change) for another crop")

        // Without its crop the prior says what it needs; the packaged config follows the
        // weights (66 inputs to head.fuse.0: crop_input).
        let error = #expect(throws: LatticeError.self) { try reading.predict(photo) }
        #expect(error?.message.contains("crop_input") == true)
        #expect(EmbeddedDefault.layeredDepthConfig(matching: reading.stateDict()).takesCrop)
        #expect(!EmbeddedDefault.layeredDepthConfig(matching: plain.stateDict()).takesCrop)
    }

    @Test(arguments: [false, true])
    func onlineBatchesPairEachPhotoWithItsOwnTargets(cropInput: Bool) throws {
        // Photos and maps of the online source are rendered on parallel workers and must land
        // at their item's index. The masked depth L1 of a batch is the coverage-weighted mean
        // of its items' L1s, so a pair's L1 must equal what the two single-item batches give;
        // a photo paired with another item's maps breaks that by far more than rounding
        // (float32 sums over ~2000 pixels: relative 1e-4). With `cropInput` each photo's crop
        // frame must land with it too (the freshly initialised head reads the planes).
        var g = RandomGenerator(seed: 9)
        let model = try LayeredDepthModel(
            EmbeddedDefault.layeredDepthConfig(refineChannels: 8, cropInput: cropInput))
        model.resetParameters(generator: &g)
        EmbeddedDefault.initializeImageEncoder(model.encoder, generator: &g)
        model.train(false)
        let online = try OnlineConditionPhotos(count: 50, photoResolution: 128)
        let objective = LayeredDepthPretraining(model: model, online: online)
        let items = [3, 17]
        func l1(_ batch: [Int]) throws -> Double {
            try withNoGrad {
                Double(try objective.losses(items: batch, generator: &g)["depth_l1"]!.item)
            }
        }
        let pair = try l1(items)
        let cover = try items.map { item -> Double in
            let view = online.view(item: item, step: 0, salt: 3)
            return Double(try objective.target(item: item, view: view).maps.mask.reduce(0, +))
        }
        let singles = try items.map { try l1([$0]) }
        let expected = (singles[0] * cover[0] + singles[1] * cover[1]) / (cover[0] + cover[1])
        #expect(abs(pair - expected) <= 1e-4 * expected, "pair \(pair) vs \(expected)")
        #expect(try l1(items) == pair)
        // Out of range counts are refused with the range.
        let error = #expect(throws: LatticeError.self) {
            _ = try OnlineConditionPhotos(count: 0)
        }
        #expect(error?.message.contains("count 0") == true)
    }
}
