// Rendering-aware velocity compensation for the sparse-structure stage, from one photo.
// ReconViaGen (reconviagen.txt §3.3; spec B.2.5-6) corrects the flow's velocity during sampling so
// that the decoded asset agrees with the input views: for t ≤ 0.5 it optimises v with Adam
// (lr 0.1, betas (0.5, 0.9), 5 steps, an L1 trust region of weight 0.2 around the model's v) on a
// loss of x̂0 = (1 − σ)·x_t − (σ + (1 − σ)·t)·v; its structure stage (`ss_refine deltav`) uses a
// Dice loss between σ(SS decoder(x̂0)) and a target occupancy. With one photo there is no target
// occupancy, but there is its silhouette: here the loss is the Dice between the photo's object
// mask and the soft silhouette of σ(SS decoder(x̂0)) seen from the photo's camera, in the frame of
// the conditioning crop (the object's bounding square, so scale and position drop out). The
// camera is the model's conditioning view (pipeline.json `structure_guidance`), refined per step
// over a small yaw/pitch grid by silhouette IoU, as ReconViaGen keeps the pose of best IoU.
import Foundation
import LatticeGeometry
import LatticeModels

extension TrellisPipelineConfig {
    /// pipeline.json `structure_guidance` (Lattice's, not upstream's): the camera a model's
    /// conditioning photos are taken from, and the compensation's settings.
    public struct StructureGuidanceConfig: Codable, Sendable {
        /// Nominal conditioning view (radians, degrees), TRELLIS orbit convention.
        public var yaw: Double
        public var pitch: Double
        public var fov: Double
        /// The camera search: yaw ± `yawRange`, pitch ± `pitchRange`, `cameraSteps` values each.
        public var yawRange: Double
        public var pitchRange: Double
        public var cameraSteps: Int
        /// Compensation runs for t ≤ `startT`, `innerSteps` Adam steps of `lr` per sampler step,
        /// trust-region weight `trust`; silhouettes are compared at `size`².
        public var startT: Double
        public var innerSteps: Int
        public var lr: Double
        public var trust: Double
        public var size: Int
        /// The layered-depth prior (`<stem>.json` / `.safetensors` in the model folder): when
        /// set, the compensation's loss is the Dice against its lifted surface (ReconViaGen's
        /// `ss_refine deltav` target) instead of the silhouette's.
        public var layeredDepth: String?
        /// How the layered-depth prior is used.
        public enum LayeredDepthUse: String, Codable, Sendable {
            /// As the target of the velocity compensation (the flow still samples).
            case compensation
            /// Its lifted surface is the structure (the structure flow does not run).
            case structure
        }
        public var layeredDepthUse: LayeredDepthUse = .compensation
        /// Whether generation from one image uses the guidance unless told otherwise.
        public var enabled = false
        /// With the lifted surface as the structure: colour the mesh and the Gaussians from the
        /// photo, seen through the prior's camera (`PhotoColors`), instead of the decoders'.
        public var photoColors = false

        enum CodingKeys: String, CodingKey, CaseIterable {
            case yaw, pitch, fov, lr, trust, size
            case layeredDepth = "layered_depth"
            case layeredDepthUse = "layered_depth_use"
            case enabled
            case photoColors = "photo_colors"
            case yawRange = "yaw_range"
            case pitchRange = "pitch_range"
            case cameraSteps = "camera_steps"
            case startT = "start_t"
            case innerSteps = "inner_steps"
        }

        public init(
            yaw: Double, pitch: Double, fov: Double, yawRange: Double = 0.15,
            pitchRange: Double = 0.15, cameraSteps: Int = 7, startT: Double = 0.5,
            innerSteps: Int = 5, lr: Double = 0.1, trust: Double = 0.2, size: Int = 64
        ) {
            self.yaw = yaw
            self.pitch = pitch
            self.fov = fov
            self.yawRange = yawRange
            self.pitchRange = pitchRange
            self.cameraSteps = cameraSteps
            self.startT = startT
            self.innerSteps = innerSteps
            self.lr = lr
            self.trust = trust
            self.size = size
        }

        /// Any key, to name one this config does not know (a typo would otherwise be ignored).
        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public init(from decoder: Decoder) throws {
            let known = CodingKeys.allCases.map(\.rawValue)
            if let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys
                .map(\.stringValue).sorted().first(where: { !known.contains($0) })
            {
                throw LatticeError(
                    .invalidConfig,
                    "structure_guidance: unknown field '\(unknown)' (known: "
                        + "\(known.sorted().joined(separator: ", ")))")
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = StructureGuidanceConfig(
                yaw: try c.decode(Double.self, forKey: .yaw),
                pitch: try c.decode(Double.self, forKey: .pitch),
                fov: try c.decode(Double.self, forKey: .fov))
            self = d
            yawRange = try c.decodeIfPresent(Double.self, forKey: .yawRange) ?? d.yawRange
            pitchRange = try c.decodeIfPresent(Double.self, forKey: .pitchRange) ?? d.pitchRange
            cameraSteps = try c.decodeIfPresent(Int.self, forKey: .cameraSteps) ?? d.cameraSteps
            startT = try c.decodeIfPresent(Double.self, forKey: .startT) ?? d.startT
            innerSteps = try c.decodeIfPresent(Int.self, forKey: .innerSteps) ?? d.innerSteps
            lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
            trust = try c.decodeIfPresent(Double.self, forKey: .trust) ?? d.trust
            size = try c.decodeIfPresent(Int.self, forKey: .size) ?? d.size
            layeredDepth = try c.decodeIfPresent(String.self, forKey: .layeredDepth)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? false
            photoColors = try c.decodeIfPresent(Bool.self, forKey: .photoColors) ?? false
            if let use = try c.decodeIfPresent(String.self, forKey: .layeredDepthUse) {
                guard let value = LayeredDepthUse(rawValue: use) else {
                    throw LatticeError(
                        .invalidConfig,
                        "structure_guidance: layered_depth_use '\(use)' (expected compensation "
                            + "or structure)")
                }
                layeredDepthUse = value
            }
            guard fov > 0, fov < 180, cameraSteps >= 1, innerSteps >= 0, size >= 8,
                (0...1).contains(startT), lr >= 0, trust >= 0
            else {
                throw LatticeError(
                    .invalidConfig,
                    "structure_guidance: expected fov in (0, 180), camera_steps ≥ 1, "
                        + "inner_steps ≥ 0, size ≥ 8, start_t in [0, 1], lr and trust ≥ 0; got "
                        + "fov \(fov), camera_steps \(cameraSteps), inner_steps \(innerSteps), "
                        + "size \(size), start_t \(startT), lr \(lr), trust \(trust)")
            }
        }

        /// The search grid of cameras (radius where the unit cube's bounding sphere fills the
        /// view, as the conditioning photos are taken).
        public func cameras() throws -> [(extrinsics: Matrix4, intrinsics: Matrix3)] {
            let radius = (3.0.squareRoot() / 2) / sin(fov / 2 * Double.pi / 180)
            func values(_ centre: Double, _ range: Double) -> [Double] {
                cameraSteps == 1
                    ? [centre]
                    : (0..<cameraSteps).map {
                        centre - range + 2 * range * Double($0) / Double(cameraSteps - 1)
                    }
            }
            var out: [(extrinsics: Matrix4, intrinsics: Matrix3)] = []
            for y in values(yaw, yawRange) {
                for p in values(pitch, pitchRange) {
                    out.append(
                        try yawPitchRadiusFovToExtrinsicsIntrinsics(
                            yaw: y, pitch: p, radius: radius, fovDegrees: fov))
                }
            }
            return out
        }
    }
}

/// Soft silhouettes of an occupancy grid against a photo's object mask, in the conditioning
/// crop's frame. Each cell (a cube of side 1/R in [-0.5, 0.5]³, x, y, z with z fastest) projects
/// to a square footprint; a pixel's density is Σ p·(footprint ∩ pixel area) and its alpha
/// 1 − exp(−τ·density).
public struct SilhouetteFit: Sendable {
    /// Silhouette side in pixels.
    public let size: Int
    /// The photo's mask in the crop frame, size² in [0, 1].
    public let target: [Float]
    public let resolution: Int
    /// Opacity per unit of covered area (a full cell with p = 1 gives alpha 0.95).
    public let tau: Float = 3
    /// Per camera: each cell's projected centre (normalised image coords) and footprint half-side.
    let projections: [(u: [Float], v: [Float], h: [Float])]

    /// The crop frame: pixel = (u − u0) / side · size.
    public struct Frame: Sendable, Equatable {
        public var u0: Float
        public var v0: Float
        public var side: Float
    }

    public init(
        target: [Float], size: Int, resolution: Int,
        cameras: [(extrinsics: Matrix4, intrinsics: Matrix3)]
    ) throws {
        guard target.count == size * size, !cameras.isEmpty, resolution > 0 else {
            throw LatticeError(
                .invalidArgument,
                "silhouette fit: a \(size)² mask needs \(size * size) values (got "
                    + "\(target.count)), and at least one camera (got \(cameras.count))")
        }
        self.size = size
        self.target = target
        self.resolution = resolution
        let r = resolution
        projections = cameras.map { camera in
            let e = camera.extrinsics
            let k = camera.intrinsics
            var u = [Float](repeating: 0, count: r * r * r)
            var v = u
            var h = u
            for x in 0..<r {
                for y in 0..<r {
                    for z in 0..<r {
                        let w = SIMD3<Float>(
                            (Float(x) + 0.5) / Float(r) - 0.5, (Float(y) + 0.5) / Float(r) - 0.5,
                            (Float(z) + 0.5) / Float(r) - 0.5)
                        let cx = e[0] * w.x + e[1] * w.y + e[2] * w.z + e[3]
                        let cy = e[4] * w.x + e[5] * w.y + e[6] * w.z + e[7]
                        let cz = max(e[8] * w.x + e[9] * w.y + e[10] * w.z + e[11], 1e-3)
                        let i = (x * r + y) * r + z
                        u[i] = k[0] * cx / cz + k[2]
                        v[i] = k[4] * cy / cz + k[5]
                        // A cube's outline spans between its face (0.5) and its bounding sphere
                        // (0.87) in half-sides; 0.7 splits the difference.
                        h[i] = 0.7 / Float(r) * k[0] / cz
                    }
                }
            }
            return (u, v, h)
        }
    }

    public var cameraCount: Int { projections.count }

    /// The crop frame of the cells with p > 0.5 seen from `camera` (the conditioning crop's rule:
    /// the square of 1.2× the larger side of the silhouette's bounding box); nil if none is.
    public func frame(_ p: [Float], camera: Int) -> Frame? {
        let pr = projections[camera]
        var (u0, u1, v0, v1) = (Float.infinity, -Float.infinity, Float.infinity, -Float.infinity)
        for i in p.indices where p[i] > 0.5 {
            u0 = min(u0, pr.u[i] - pr.h[i])
            u1 = max(u1, pr.u[i] + pr.h[i])
            v0 = min(v0, pr.v[i] - pr.h[i])
            v1 = max(v1, pr.v[i] + pr.h[i])
        }
        guard u1 > u0, v1 > v0 else { return nil }
        let side = 1.2 * max(u1 - u0, v1 - v0)
        return Frame(u0: (u0 + u1) / 2 - side / 2, v0: (v0 + v1) / 2 - side / 2, side: side)
    }

    /// Calls `body(cell, pixel, overlap)` for every pixel a cell's footprint covers.
    @inline(__always)
    func forEachCover(camera: Int, frame: Frame, _ body: (Int, Int, Float) -> Void) {
        let pr = projections[camera]
        let s = Float(size) / frame.side
        for i in pr.u.indices {
            let x0 = (pr.u[i] - pr.h[i] - frame.u0) * s
            let x1 = (pr.u[i] + pr.h[i] - frame.u0) * s
            let y0 = (pr.v[i] - pr.h[i] - frame.v0) * s
            let y1 = (pr.v[i] + pr.h[i] - frame.v0) * s
            let ix0 = max(0, Int(x0.rounded(.down)))
            let ix1 = min(size - 1, Int(x1.rounded(.down)))
            let iy0 = max(0, Int(y0.rounded(.down)))
            let iy1 = min(size - 1, Int(y1.rounded(.down)))
            guard ix0 <= ix1, iy0 <= iy1 else { continue }
            for iy in iy0...iy1 {
                let oy = min(y1, Float(iy + 1)) - max(y0, Float(iy))
                guard oy > 0 else { continue }
                for ix in ix0...ix1 {
                    let ox = min(x1, Float(ix + 1)) - max(x0, Float(ix))
                    if ox > 0 { body(i, iy * size + ix, ox * oy) }
                }
            }
        }
    }

    /// The soft silhouette (alpha, size²) of occupancy `p` from `camera` in `frame`.
    public func render(_ p: [Float], camera: Int, frame: Frame) -> [Float] {
        var density = [Float](repeating: 0, count: size * size)
        forEachCover(camera: camera, frame: frame) { i, pixel, a in density[pixel] += p[i] * a }
        return density.map { 1 - exp(-tau * $0) }
    }

    /// IoU of the hard silhouette (cells with p > 0.5, alpha > 0.5) with the mask (> 0.5).
    public func iou(_ p: [Float], camera: Int) -> Float {
        guard let frame = frame(p, camera: camera) else { return 0 }
        let hard = p.map { $0 > 0.5 ? Float(1) : 0 }
        let alpha = render(hard, camera: camera, frame: frame)
        var inter = 0
        var union = 0
        for i in alpha.indices {
            let a = alpha[i] > 0.5
            let b = target[i] > 0.5
            if a && b { inter += 1 }
            if a || b { union += 1 }
        }
        return union == 0 ? 0 : Float(inter) / Float(union)
    }

    /// The camera whose hard silhouette of `p` best matches the mask (first on ties).
    public func bestCamera(_ p: [Float]) -> (camera: Int, iou: Float) {
        var best = (camera: 0, iou: -Float.infinity)
        for c in 0..<cameraCount {
            let v = iou(p, camera: c)
            if v > best.iou { best = (c, v) }
        }
        return best
    }

    /// Dice loss 1 − (2Σαm + 1)/(Σα + Σm + 1) of the soft silhouette of `p` against the mask
    /// (sums in float64), and its gradient with respect to `p`; nil when no cell has p > 0.5 (no
    /// frame). The frame is held fixed: the gradient is the loss's at this frame.
    public func diceLoss(_ p: [Float], camera: Int) -> (loss: Double, gradient: [Float])? {
        guard let frame = frame(p, camera: camera) else { return nil }
        let alpha = render(p, camera: camera, frame: frame)
        var sa = 0.0
        var sam = 0.0
        var sm = 0.0
        for i in alpha.indices {
            sa += Double(alpha[i])
            sam += Double(alpha[i] * target[i])
            sm += Double(target[i])
        }
        let n = Float(2 * sam + 1)
        let d = Float(sa + sm + 1)
        // dL/dα_i = −(2 m_i d − n) / d², then through α = 1 − exp(−τ·density).
        let dDensity = alpha.indices.map { i in
            -(2 * target[i] * d - n) / (d * d) * tau * (1 - alpha[i])
        }
        var gradient = [Float](repeating: 0, count: p.count)
        forEachCover(camera: camera, frame: frame) { i, pixel, a in
            gradient[i] += dDensity[pixel] * a
        }
        return (1 - (2 * sam + 1) / (sa + sm + 1), gradient)
    }
}

/// The compensation itself: `compensate` replaces the model's velocity at times t ≤ `startT`.
public final class StructureGuidance: @unchecked Sendable {
    public let fit: SilhouetteFit
    /// A target occupancy (0/1 per cell of the decoded grid): when set, the loss is the 3D Dice
    /// against it (ReconViaGen's `ss_refine`), not the silhouette's.
    public let target: [Float]?
    /// Latent [1, C, r, r, r] -> occupancy logits [1, 1, R, R, R] (the SS decoder), differentiable.
    public let decode: (Tensor) -> Tensor
    public let config: TrellisPipelineConfig.StructureGuidanceConfig
    public let sigmaMin: Double
    /// Sampler steps compensated so far (for reports and tests).
    public private(set) var compensatedSteps = 0

    public init(
        fit: SilhouetteFit, target: [Float]? = nil, decode: @escaping (Tensor) -> Tensor,
        config: TrellisPipelineConfig.StructureGuidanceConfig, sigmaMin: Double
    ) {
        self.fit = fit
        self.target = target
        self.decode = decode
        self.config = config
        self.sigmaMin = sigmaMin
    }

    /// The compensated velocity at (x, t) for the model's `v` (both [1, C, r, r, r]).
    public func compensate(x: Tensor, t: Double, v: Tensor) -> Tensor {
        guard t <= config.startT, config.innerSteps > 0, x.shape[0] == 1 else { return v }
        let shape = v.shape
        let xs = x.contiguous().toFloats()
        let v0 = v.contiguous().toFloats()
        let n = v0.count
        var vOpt = v0
        var m = [Float](repeating: 0, count: n)
        var s = [Float](repeating: 0, count: n)
        let (beta1, beta2, eps, lr) = (Float(0.5), Float(0.9), Float(1e-8), Float(config.lr))
        let a = Float(1 - sigmaMin)
        let b = Float(sigmaMin + (1 - sigmaMin) * t)
        let trust = Float(config.trust) / Float(n)
        var camera: Int?
        for step in 1...config.innerSteps {
            let x0 = Tensor((0..<n).map { a * xs[$0] - b * vOpt[$0] }, shape: shape)
                .requiringGrad()
            let p = withGrad { decode(x0).sigmoid() }
            let pv = p.contiguous().toFloats()
            let g: [Float]
            if let target {
                g = Self.occupancyDice(pv, target: target).gradient
            } else {
                if camera == nil { camera = fit.bestCamera(pv).camera }
                guard let camera, let (_, sg) = fit.diceLoss(pv, camera: camera) else { break }
                g = sg
            }
            if step == 1 { compensatedSteps += 1 }
            withGrad { p.backward(Tensor(g, shape: p.shape)) }
            guard let gx = x0.grad?.contiguous().toFloats() else { break }
            let c1 = 1 - pow(beta1, Float(step))
            let c2 = 1 - pow(beta2, Float(step))
            for i in 0..<n {
                let d = vOpt[i] - v0[i]
                let grad = -b * gx[i] + trust * (d > 0 ? 1 : d < 0 ? -1 : 0)
                m[i] = beta1 * m[i] + (1 - beta1) * grad
                s[i] = beta2 * s[i] + (1 - beta2) * grad * grad
                vOpt[i] -= lr * (m[i] / c1) / ((s[i] / c2).squareRoot() + eps)
            }
        }
        return Tensor(vOpt, shape: shape)
    }
}

extension StructureGuidance {
    /// Dice loss 1 − (2Σp·t + 1)/(Σp + Σt + 1) of occupancy `p` against `target` (sums in
    /// float64), and its gradient with respect to `p`.
    public static func occupancyDice(_ p: [Float], target: [Float]) -> (
        loss: Double, gradient: [Float]
    ) {
        precondition(p.count == target.count, "occupancy Dice: \(p.count) cells vs \(target.count)")
        var sp = 0.0
        var spt = 0.0
        var st = 0.0
        for i in p.indices {
            sp += Double(p[i])
            spt += Double(p[i] * target[i])
            st += Double(target[i])
        }
        let n = 2 * spt + 1
        let d = sp + st + 1
        // dL/dp_i = −(2 t_i d − n) / d².
        let gradient = p.indices.map { Float(-(2 * Double(target[$0]) * d - n) / (d * d)) }
        return (1 - n / d, gradient)
    }
}
