// The structure stage's silhouette compensation: the Dice gradient against finite differences,
// the compensation lowering the Dice it optimises, and its configuration errors.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import Testing

@testable import LatticePipelines

@Suite struct StructureGuidanceTests {
    static let nominal = TrellisPipelineConfig.StructureGuidanceConfig(
        yaw: 0.6, pitch: 0.3, fov: 40, yawRange: 0.1, pitchRange: 0.1, cameraSteps: 3)

    /// A ball of radius 0.3 (in [-0.5, 0.5]³) on an R³ grid, with soft values away from 0.5.
    static func ball(_ r: Int, radius: Float = 0.3, centre: SIMD3<Float> = .zero) -> [Float] {
        var p = [Float](repeating: 0.1, count: r * r * r)
        for x in 0..<r {
            for y in 0..<r {
                for z in 0..<r {
                    let w =
                        SIMD3<Float>(Float(x), Float(y), Float(z)) / Float(r) + 0.5 / Float(r)
                        - 0.5
                    if ((w - centre) * (w - centre)).sum() < radius * radius {
                        p[(x * r + y) * r + z] = 0.9
                    }
                }
            }
        }
        return p
    }

    /// The hard silhouette of `p` from `camera`, in its own crop frame: a target it fits exactly.
    static func target(_ fit: SilhouetteFit, _ p: [Float], camera: Int) throws -> [Float] {
        let frame = try #require(fit.frame(p, camera: camera))
        return fit.render(p.map { $0 > 0.5 ? 1 : 0 }, camera: camera, frame: frame).map {
            $0 > 0.5 ? 1 : 0
        }
    }

    @Test func diceGradientMatchesFiniteDifferences() throws {
        let r = 8
        let cameras = try Self.nominal.cameras()
        // A small image, so each cell covers a good part of a pixel and its gradient is large
        // against the finite differences' rounding.
        let size = 12
        let probe = try SilhouetteFit(
            target: [Float](repeating: 0, count: size * size), size: size, resolution: r,
            cameras: cameras)
        // Target: a ball off-centre, so the loss is far from its minimum.
        let target = try Self.target(
            probe, Self.ball(r, radius: 0.35, centre: SIMD3(0.1, 0, 0.05)), camera: 4)
        let fit = try SilhouetteFit(target: target, size: size, resolution: r, cameras: cameras)
        var g = RandomGenerator(seed: 3)
        // Random probabilities in [0.06, 0.44] ∪ [0.56, 0.94]: a step of h never moves a cell
        // across 0.5, so the crop frame (from cells above 0.5) stays fixed as in the rule.
        var p = Self.ball(r)
        for i in p.indices {
            let u = Tensor.rand([1], generator: &g).toFloats()[0] * 0.38
            p[i] = p[i] > 0.5 ? 0.56 + u : 0.06 + u
        }
        let (loss, gradient) = try #require(fit.diceLoss(p, camera: 4))
        #expect(loss > 0.05 && loss < 1)
        // Central differences with h = 0.02: the loss sums in float64 but each pixel's alpha is
        // float32 (rounding ~6e-8 per pixel, ~1e-8 in the loss, ~3e-7 after dividing by 2h),
        // and the O(h²) truncation of a smooth exp is below 1%: a 3% + 2%·max band separates
        // those from a wrong rule, whose errors are of the gradient's own size.
        let h: Float = 0.02
        let scale = gradient.map(abs).max() ?? 0
        #expect(scale > 1e-5)
        var checked = 0
        for i in stride(from: 0, to: p.count, by: 3) where abs(gradient[i]) > 0.1 * scale {
            var plus = p
            var minus = p
            plus[i] += h
            minus[i] -= h
            let lp = try #require(fit.diceLoss(plus, camera: 4)).loss
            let lm = try #require(fit.diceLoss(minus, camera: 4)).loss
            let numeric = Float((lp - lm) / Double(2 * h))
            #expect(
                abs(numeric - gradient[i]) <= 0.03 * abs(gradient[i]) + 0.02 * scale,
                "cell \(i): analytic \(gradient[i]), numeric \(numeric)")
            checked += 1
        }
        #expect(checked >= 10)
    }

    @Test func theCameraThatMadeTheSilhouetteFitsBest() throws {
        let r = 16
        let cameras = try Self.nominal.cameras()
        // An elongated shape, so different views give different silhouettes.
        var p = [Float](repeating: 0, count: r * r * r)
        for x in 2..<14 {
            for y in 6..<10 {
                for z in 4..<8 { p[(x * r + y) * r + z] = 1 }
            }
        }
        for y in 6..<14 {
            for z in 8..<14 { p[(4 * r + y) * r + z] = 1 }
        }
        let probe = try SilhouetteFit(
            target: [Float](repeating: 0, count: 48 * 48), size: 48, resolution: r,
            cameras: cameras)
        for k in [0, 4, 8] {
            let fit = try SilhouetteFit(
                target: try Self.target(probe, p, camera: k), size: 48, resolution: r,
                cameras: cameras)
            let best = fit.bestCamera(p)
            #expect(best.camera == k && best.iou == 1, "camera \(k): best \(best)")
        }
    }

    @Test func compensationLowersTheDice() throws {
        var g = RandomGenerator(seed: 11)
        // A toy decoder with the SS decoder's shapes: logits are 4 × (sum of the latent's
        // channels), each latent cell repeated over its 2³ cells ([1, 4, 4³] -> [1, 1, 8³]).
        let decode = { (z: Tensor) -> Tensor in
            let s = z.sum(axes: [1], keepDims: true) * Float(4)  // [1, 1, 4, 4, 4]
            return s.reshape([1, 1, 4, 1, 4, 1, 4, 1]).expand([1, 1, 4, 2, 4, 2, 4, 2])
                .contiguous().reshape([1, 1, 8, 8, 8])
        }
        let x = Tensor.randn([1, 4, 4, 4, 4], generator: &g)
        let v = Tensor.randn([1, 4, 4, 4, 4], generator: &g)
        let cameras = try Self.nominal.cameras()
        let probe = try SilhouetteFit(
            target: [Float](repeating: 0, count: 32 * 32), size: 32, resolution: 8,
            cameras: cameras)
        let fit = try SilhouetteFit(
            target: try Self.target(probe, Self.ball(8, radius: 0.25), camera: 4), size: 32,
            resolution: 8, cameras: cameras)
        var config = Self.nominal
        config.innerSteps = 10
        let guidance = StructureGuidance(fit: fit, decode: decode, config: config, sigmaMin: 1e-5)
        let t = 0.4
        func dice(_ velocity: Tensor) throws -> Double {
            let x0 = Float(1 - 1e-5) * x - Float(1e-5 + (1 - 1e-5) * t) * velocity
            let p = withNoGrad { decode(x0).sigmoid() }.contiguous().toFloats()
            return try #require(fit.diceLoss(p, camera: fit.bestCamera(p).camera)).loss
        }
        let compensated = withNoGrad { guidance.compensate(x: x, t: t, v: v) }
        let before = try dice(v)
        let after = try dice(compensated)
        // One compensated step (10 Adam steps of lr 0.1 on v) must cut the loss it descends by a
        // clear margin (measured: 18%), not merely move it by noise.
        #expect(after < 0.9 * before, "Dice \(before) -> \(after)")
        #expect(guidance.compensatedSteps == 1)
        // Above start_t the model's velocity passes through untouched.
        let late = guidance.compensate(x: x, t: 0.9, v: v)
        #expect(late.toFloats() == v.toFloats())
    }

    @Test func badConfigurationIsNamed() throws {
        let bad = Data(#"{"yaw": 0.6, "pitch": 0.3, "fov": 0}"#.utf8)
        let error = #expect(throws: LatticeError.self) {
            try JSONDecoder().decode(TrellisPipelineConfig.StructureGuidanceConfig.self, from: bad)
        }
        #expect(error?.message.contains("structure_guidance") == true)
        #expect(error?.message.contains("fov 0") == true)
        let typo = Data(#"{"yaw": 0.6, "pitch": 0.3, "fov": 40, "inner_step": 3}"#.utf8)
        let e1 = #expect(throws: LatticeError.self) {
            try JSONDecoder().decode(TrellisPipelineConfig.StructureGuidanceConfig.self, from: typo)
        }
        #expect(e1?.message.contains("'inner_step'") == true)
        // A folder without the conditioning camera cannot compensate, and says where it looked.
        let root = try TrellisPipelineTests.tinyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let image = root.appendingPathComponent("photo.png")
        var pixels = [Float](repeating: 0, count: 16 * 16 * 4)
        for y in 4..<12 {
            for x in 4..<12 { pixels[(y * 16 + x) * 4 + 3] = 1 }
        }
        try writePNG(RasterImage(width: 16, height: 16, channels: 4, pixels: pixels), to: image)
        var request = GenerateRequest(modelFolder: root, outputDirectory: root)
        request.images = [image]
        request.structureGuidance = true
        let pipeline = TrellisPipeline(folder: try ModelFolder(root: root))
        let e2 = #expect(throws: LatticeError.self) { try pipeline.generate(request) }
        #expect(e2?.message.contains("pipeline.json") == true)
        #expect(e2?.message.contains("structure_guidance") == true)
    }

    /// The tiny random folder with a random layered-depth prior and `structure_guidance` naming
    /// it (used as `use`, on by default when `enabled`). Its maps are a constant slab.
    static func folderWithLayeredDepth(use: String, enabled: Bool = false) throws -> URL {
        let root = try TrellisPipelineTests.tinyFolder()
        var encoder = DinoVisionTransformer.Config()
        encoder.imgSize = 28
        encoder.patchSize = 14
        encoder.embedDim = 32
        encoder.depth = 1
        encoder.numHeads = 2
        encoder.numRegisterTokens = 0
        encoder.initValues = nil
        encoder.interpolateOffset = 0
        let config = LayeredDepthConfig(
            encoder: encoder, grid: 14, yaw: 0.6, pitch: 0.3, fov: 40, yawScale: 0.15,
            pitchScale: 0.15, fovScale: 10)
        let model = try LayeredDepthModel(config)
        var g = RandomGenerator(seed: 4)
        model.resetParameters(generator: &g)
        // Random features, but a known output: a slab from 0.3 in front of the origin to 0.3
        // behind it, so the lift is the mask's frustum cut by that slab.
        model.output.weight.value = Tensor(zeros: model.output.weight.value.shape)
        model.output.bias?.value = Tensor([-0.3, 0.3], shape: [2])
        try JSONEncoder().encode(config).write(to: root.appendingPathComponent("depth.json"))
        try Safetensors.write(
            model.stateDict(), to: root.appendingPathComponent("depth.safetensors"))
        let url = root.appendingPathComponent("pipeline.json")
        var json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var args = try #require(json["args"] as? [String: Any])
        args["structure_guidance"] = [
            "yaw": 0.6, "pitch": 0.3, "fov": 40, "camera_steps": 2, "inner_steps": 2,
            "start_t": 0.9, "size": 16, "layered_depth": "depth", "layered_depth_use": use,
            "enabled": enabled,
        ]
        json["args"] = args
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return root
    }

    /// A 64² RGBA photo: an opaque square with a shaded gradient.
    static func squarePhoto() -> PixelImage {
        var pixels = [Float](repeating: 0, count: 64 * 64 * 4)
        for y in 16..<48 {
            for x in 20..<44 {
                let i = (y * 64 + x) * 4
                pixels[i] = Float(x) / 64
                pixels[i + 1] = Float(y) / 64
                pixels[i + 2] = 0.5
                pixels[i + 3] = 1
            }
        }
        return PixelImage(RasterImage(width: 64, height: 64, channels: 4, pixels: pixels))
    }

    @Test func layeredDepthPriorDrivesTheStructureStage() throws {
        // "structure": the structure is exactly the lifted surface (the flow does not run);
        // "compensation": the flow runs and each late step pulls toward that surface (its note
        // says so). The prior's maps are a constant slab, so the surface is the photo's square
        // frustum cut by it; what is checked is the wiring, not the quality.
        for use in ["structure", "compensation"] {
            let root = try Self.folderWithLayeredDepth(use: use)
            defer { try? FileManager.default.removeItem(at: root) }
            var notes: [String] = []
            let pipeline = TrellisPipeline(folder: try ModelFolder(root: root)) { event in
                if case .note(let text) = event { notes.append(text) }
            }
            let photo = Self.squarePhoto()
            let input = try ImagePreprocess.prepare(photo, size: 56, source: "square")
            let (cond, neg) = try pipeline.imageCondition(ImagePreprocess.batch([input]))
            let silhouette = try ImagePreprocess.alphaMask(photo, size: 16, source: "square")
            var g = RandomGenerator(seed: 1)
            let coords = try pipeline.sampleSparseStructure(
                cond: cond, neg: neg, params: .init(steps: 3), silhouette: silhouette,
                guidancePhoto: .init(image: photo, mask: nil, source: "square"), generator: &g)
            let lifted = try pipeline.layeredDepthTarget(
                stem: "depth", photo: .init(image: photo, mask: nil, source: "square"),
                resolution: 16)
            #expect(notes.contains { $0.hasPrefix("layered depth: camera") }, "\(use): \(notes)")
            // Some cells, not all: a wiring that dropped the maps would give none.
            let count = Int(lifted.reduce(0, +))
            #expect(count > 0 && count < lifted.count, "\(use): \(count) lifted cells")
            if use == "structure" {
                let c = coords.toInts()
                var cells = [Float](repeating: 0, count: 16 * 16 * 16)
                for k in stride(from: 0, to: c.count, by: 4) {
                    cells[(c[k + 1] * 16 + c[k + 2]) * 16 + c[k + 3]] = 1
                }
                #expect(cells == lifted)
                #expect(!notes.contains { $0.contains("compensation") })
            } else {
                #expect(notes.contains { $0.hasPrefix("layered-depth compensation") }, "\(notes)")
            }
        }
    }

    @Test func unknownLayeredDepthUseIsNamed() throws {
        let bad = Data(
            #"{"yaw": 0.6, "pitch": 0.3, "fov": 40, "layered_depth": "d", "layered_depth_use": "both"}"#
                .utf8)
        let error = #expect(throws: LatticeError.self) {
            try JSONDecoder().decode(TrellisPipelineConfig.StructureGuidanceConfig.self, from: bad)
        }
        #expect(error?.message.contains("'both'") == true)
    }

    @Test func enabledGuidanceIsTheDefaultForOneImage() throws {
        // pipeline.json `enabled`: a request that does not say runs the guidance (its note
        // appears), one that says no does not, and two images skip it with a note instead of
        // failing (the guidance needs one photo's camera).
        let root = try Self.folderWithLayeredDepth(use: "structure", enabled: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let image = root.appendingPathComponent("square.png")
        try PNG.write(Self.squarePhoto(), to: image)
        func notes(_ guidance: Bool?, images: Int) throws -> [String] {
            var notes: [String] = []
            let pipeline = TrellisPipeline(folder: try ModelFolder(root: root)) { event in
                if case .note(let text) = event { notes.append(text) }
            }
            var request = GenerateRequest(
                modelFolder: root, outputDirectory: root.appendingPathComponent("out"))
            request.images = Array(repeating: image, count: images)
            request.structureGuidance = guidance
            request.formats = [.ply]
            request.sparseStructureParams.steps = 2
            request.slatParams.steps = 2
            _ = try pipeline.generate(request)
            return notes
        }
        #expect(try notes(nil, images: 1).contains { $0.hasPrefix("layered depth: camera") })
        #expect(try !notes(false, images: 1).contains { $0.hasPrefix("layered depth") })
        let two = try notes(nil, images: 2)
        #expect(two.contains { $0.contains("skipped") }, "\(two)")
        #expect(!two.contains { $0.hasPrefix("layered depth") })
    }
}
