// Fixture handlers for rendering and cameras: gsplat__* (Gaussian rasterization forward and
// backward), camera__utils3d_render_utils (TRELLIS/utils3d cameras) and vggt__pose_encoding /
// vggt__unproject_depth (VGGT camera conventions).
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

/// Handlers for the render and camera fixture groups.
public enum RenderFixtures {
    static func floats(_ f: Fixture, _ name: String) throws -> [Float] {
        try f.input(name).toFloats()
    }

    static func configNumber(_ f: Fixture, _ key: String) throws -> Double {
        guard let v = f.configJSON[key]?.doubleValue else {
            throw LatticeError(.invalidConfig, "\(f.url.path): config has no number '\(key)'")
        }
        return v
    }

    /// gsplat `_rasterization` with render_mode RGB+ED: images, intermediates, loss and grads.
    public static func gsplat(_ f: Fixture) throws -> [String: any FixtureValue] {
        let width = Int(try configNumber(f, "width"))
        let height = Int(try configNumber(f, "height"))
        let shDegree = Int(try configNumber(f, "sh_degree"))
        let modeName = f.configJSON["rasterize_mode"]?.stringValue ?? "classic"
        guard let mode = RasterizeMode(rawValue: modeName) else {
            throw LatticeError(.invalidConfig, "\(f.url.path): rasterize_mode '\(modeName)'")
        }
        let settings = SplatSettings(
            eps2d: Float(try configNumber(f, "eps2d")),
            nearPlane: Float(try configNumber(f, "near_plane")),
            farPlane: Float(try configNumber(f, "far_plane")), tileSize: 16, mode: mode,
            backgrounds: try floats(f, "backgrounds"))
        let colorsShape = try f.input("colors").shape  // [N, K, 3]
        let scene = try GaussianScene(
            means: try floats(f, "means"), quats: try floats(f, "quats"),
            scales: try floats(f, "scales"), opacities: try floats(f, "opacities"),
            shCoefficients: try floats(f, "colors"), shDegree: shDegree)
        let viewmats = try floats(f, "viewmats")
        let ks = try floats(f, "Ks")
        let c = viewmats.count / 16
        let cameras = try (0..<c).map {
            try SplatCamera(
                viewmat: Array(viewmats[($0 * 16)..<($0 * 16 + 16)]),
                k: Array(ks[($0 * 9)..<($0 * 9 + 9)]), width: width, height: height)
        }
        let r = try rasterizeGaussians(scene, cameras: cameras, settings: settings)
        let n = scene.count
        let weights = try floats(f, "loss_weights")
        var loss = 0.0
        for i in weights.indices { loss += Double(r.images.rgb[i]) * Double(weights[i]) }
        let g = rasterizeGaussiansBackward(
            scene, cameras: cameras, settings: settings, render: r, gradRGB: weights)
        let opacitiesView = r.raster.opacities
        // gsplat evaluates SH only for visible Gaussians (masks = radii > 0): culled rows read
        // max(0 + 0.5, 0) = 0.5.
        var colorsView = r.raster.colors
        for g in 0..<(c * n) where r.radii[g * 2] == 0 || r.radii[g * 2 + 1] == 0 {
            for ch in 0..<3 { colorsView[g * 3 + ch] = 0.5 }
        }
        let tiles = r.tiles
        func d(_ v: [Double], _ shape: [Int]) -> DoubleTensor { DoubleTensor(v, shape: shape) }
        return [
            "rgb": Tensor(r.images.rgb, shape: [c, height, width, 3]),
            "alpha": Tensor(r.images.alpha, shape: [c, height, width, 1]),
            "depth_expected": Tensor(r.images.depth, shape: [c, height, width, 1]),
            "radii": Tensor(int32: r.radii, shape: [c, n, 2]),
            "means2d": Tensor(r.means2d, shape: [c, n, 2]),
            "depths": Tensor(r.depths, shape: [c, n]),
            "conics": Tensor(r.conics, shape: [c, n, 3]),
            "opacities_view": Tensor(opacitiesView, shape: [c, n]),
            "colors_view": Tensor(colorsView, shape: [c, n, 3]),
            "isect_offsets": Tensor(
                int32: tiles.offsets, shape: [c, tiles.tileHeight, tiles.tileWidth]),
            "flatten_ids": Tensor(int32: tiles.flattenIds, shape: [tiles.flattenIds.count]),
            "tiles_per_gauss": Tensor(int32: tiles.tilesPerGauss, shape: [c, n]),
            // Upstream's loss is a float32 sum of 18k terms (ulp 5e-4 at its size); rounding the
            // exact sum to float32 is the closest a different summation order can get.
            "loss": Tensor([Float(loss)], shape: [1]),
            "grad.means": d(g.means, [n, 3]),
            "grad.quats": d(g.quats, [n, 4]),
            "grad.scales": d(g.scales, [n, 3]),
            "grad.opacities": d(g.opacities, [n]),
            "grad.colors": d(g.shCoefficients, colorsShape),
        ]
    }

    /// TRELLIS render_utils / random_utils / gaussian_render cameras and utils3d look-at.
    public static func cameras(_ f: Fixture) throws -> [String: any FixtureValue] {
        var out: [String: any FixtureValue] = [:]
        func block(
            _ name: String, yaws: [Double], pitchs: [Double], radii: [Double], fovs: [Double],
            near: Double, far: Double
        ) throws {
            var ext: [Float] = []
            var intr: [Float] = []
            var proj: [Float] = []
            var full: [Float] = []
            var centers: [Float] = []
            var fovX: [Float] = []
            for i in yaws.indices {
                let (e, k) = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                    yaw: yaws[i], pitch: pitchs[i], radius: radii[i], fovDegrees: fovs[i])
                let p = intrinsicsToProjection(k, near: near, far: far)
                ext += e
                intr += k
                proj += p
                full += matmul4(p, e)
                let c = cameraCenter(extrinsics: e)
                centers += [c.x, c.y, c.z]
                fovX.append(2 * atan(0.5 / k[0]))
            }
            let m = yaws.count
            out[name + ".extrinsics"] = Tensor(ext, shape: [m, 4, 4])
            out[name + ".intrinsics"] = Tensor(intr, shape: [m, 3, 3])
            out[name + ".projection"] = Tensor(proj, shape: [m, 4, 4])
            out[name + ".full_proj"] = Tensor(full, shape: [m, 4, 4])
            out[name + ".camera_center"] = Tensor(centers, shape: [m, 3])
            out[name + ".fov_x"] = Tensor(fovX, shape: [m])
        }
        // render_video: float32 linspace(0, 2 * 3.1415, frames) as torch computes it: halves from
        // each end, with a fused multiply-add (this reproduces the stored yaws bit for bit).
        let frames = Int(try configNumber(f, "video_frames"))
        let end = Float(2 * 3.1415)
        let step = end / Float(frames - 1)
        let lin: [Float] = (0..<frames).map {
            $0 < frames / 2
                ? Float(0).addingProduct(step, Float($0))
                : end.addingProduct(-step, Float(frames - 1 - $0))
        }
        let videoYaw = lin
        let videoPitch = lin.map { 0.25 + 0.5 * sin($0) }
        out["video.yaw"] = Tensor(videoYaw, shape: [frames])
        out["video.pitch"] = Tensor(videoPitch, shape: [frames])
        try block(
            "video", yaws: videoYaw.map(Double.init), pitchs: videoPitch.map(Double.init),
            radii: .init(repeating: 2, count: frames), fovs: .init(repeating: 40, count: frames),
            near: 0.8, far: 1.6)
        // render_multiview: Hammersley directions.
        let views = Int(try configNumber(f, "multiview_n"))
        let mv = (0..<views).map { sphereHammersleySequence($0, numSamples: views) }
        out["multiview.yaw_pitch_f64"] = DoubleTensor(mv.flatMap { $0 }, shape: [views, 2])
        try block(
            "multiview", yaws: mv.map { $0[0] }, pitchs: mv.map { $0[1] },
            radii: .init(repeating: 2, count: views), fovs: .init(repeating: 40, count: views),
            near: 0.8, far: 1.6)
        // Snapshot cameras.
        let yawOffset = -16.0 / 180 * Double.pi
        let snapYaw = [0, Double.pi / 2, Double.pi, 3 * Double.pi / 2].map { $0 + yawOffset }
        try block(
            "snapshot", yaws: snapYaw, pitchs: .init(repeating: 20.0 / 180 * Double.pi, count: 4),
            radii: .init(repeating: 10, count: 4), fovs: .init(repeating: 8, count: 4), near: 1,
            far: 100)
        try block(
            "random_ypr", yaws: try f.inputDoubles("random.yaw"),
            pitchs: try f.inputDoubles("random.pitch"), radii: try f.inputDoubles("random.r"),
            fovs: try f.inputDoubles("random.fov_deg"), near: 0.8, far: 1.6)
        // Look-at and intrinsics from fov.
        let eye = try floats(f, "random.eye")
        let at = try floats(f, "random.look_at")
        let up = try floats(f, "random.up")
        let m = eye.count / 3
        var look: [Float] = []
        for i in 0..<m {
            func v(_ a: [Float]) -> SIMD3<Float> { SIMD3(a[i * 3], a[i * 3 + 1], a[i * 3 + 2]) }
            look += try extrinsicsLookAt(eye: v(eye), lookAt: v(at), up: v(up))
        }
        out["look_at.extrinsics"] = Tensor(look, shape: [m, 4, 4])
        let fx = try floats(f, "random.fov_x")
        let fy = try floats(f, "random.fov_y")
        out["intrinsics_from_fov_xy"] = Tensor(
            fx.indices.flatMap { intrinsicsFromFov(x: fx[$0], y: fy[$0]) }, shape: [fx.count, 3, 3])
        // Sequences.
        let hn = Int(try configNumber(f, "hammersley_n"))
        out["sphere_hammersley.plain_f64"] = DoubleTensor(
            (0..<hn).flatMap { sphereHammersleySequence($0, numSamples: hn) }, shape: [hn, 2])
        var offset = (0.0, 0.0)
        if case .array(let items)? = f.configJSON["offset"], items.count == 2 {
            offset = (items[0].doubleValue ?? 0, items[1].doubleValue ?? 0)
        }
        out["sphere_hammersley.offset_remap_f64"] = DoubleTensor(
            (0..<hn).flatMap {
                sphereHammersleySequence($0, numSamples: hn, offset: offset, remap: true)
            }, shape: [hn, 2])
        let gn = Int(try configNumber(f, "gs_n"))
        out["hammersley3_f64"] = DoubleTensor(
            (0..<gn).flatMap { hammersleySequence(dim: 3, $0, numSamples: gn) }, shape: [gn, 3])
        out["radical_inverse_f64"] = DoubleTensor(
            (0..<64).flatMap { i in [2, 3, 5].map { radicalInverse(base: $0, i) } }, shape: [64, 3])
        return out
    }

    /// VGGT pose encoding decode and re-encode.
    public static func vggtPoseEncoding(_ f: Fixture) throws -> [String: any FixtureValue] {
        let enc = try f.input("pose_enc")
        let shape = enc.shape  // [B, S, 9]
        let values = enc.toFloats().map(Double.init)
        var size = (height: 0, width: 0)
        if case .array(let hw)? = f.configJSON["image_size_hw"], hw.count == 2 {
            size = (Int(hw[0].doubleValue ?? 0), Int(hw[1].doubleValue ?? 0))
        }
        let frames = values.count / 9
        var ext: [Double] = []
        var intr: [Double] = []
        var round: [Double] = []
        for i in 0..<frames {
            let cam = try poseEncodingToExtrinsicsIntrinsics(
                Array(values[(i * 9)..<(i * 9 + 9)]), imageSize: size)
            // Upstream returns float32 tensors; re-encode from the rounded values.
            let rounded = VGGTCamera(
                extrinsics: cam.extrinsics.map { Double(Float($0)) },
                intrinsics: cam.intrinsics.map { Double(Float($0)) })
            ext += rounded.extrinsics
            intr += rounded.intrinsics
            round += extrinsicsIntrinsicsToPoseEncoding(rounded, imageSize: size)
        }
        let lead = Array(shape.dropLast())
        return [
            "extrinsics": DoubleTensor(ext, shape: lead + [3, 4]),
            "intrinsics": DoubleTensor(intr, shape: lead + [3, 3]),
            "pose_enc_roundtrip": DoubleTensor(round, shape: shape),
        ]
    }

    /// VGGT depth unprojection to world points (float64).
    public static func vggtUnprojectDepth(_ f: Fixture) throws -> [String: any FixtureValue] {
        let depth = try f.input("depth")  // [S, H, W, 1]
        let (s, h, w) = (depth.shape[0], depth.shape[1], depth.shape[2])
        let d = depth.toFloats()
        let e = try floats(f, "extrinsics").map(Double.init)
        let k = try floats(f, "intrinsics").map(Double.init)
        var out: [Double] = []
        for i in 0..<s {
            out += try unprojectDepthMapToPointMap(
                depth: Array(d[(i * h * w)..<((i + 1) * h * w)]), height: h, width: w,
                extrinsics: Array(e[(i * 12)..<(i * 12 + 12)]),
                intrinsics: Array(k[(i * 9)..<(i * 9 + 9)]))
        }
        return ["world_points": DoubleTensor(out, shape: [s, h, w, 3])]
    }
}
