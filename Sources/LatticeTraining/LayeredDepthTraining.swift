// Training the layered-depth prior (`LayeredDepthModel`, LatticePipelines) of the embedded
// default: on the photo bank's conditioning images, with targets computed from each shape's mesh
// and its view's camera: per pixel of the conditioning crop, the camera depth of the first and
// last surface its ray meets, and the camera's yaw, pitch and fov.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeTensor

/// Layered depth maps of a mesh over a conditioning crop.
public enum LayeredDepthTarget {
    public struct Maps: Sendable {
        /// grid² each, row-major; depths are camera z minus the camera's distance to the origin,
        /// 0 where `mask` is 0.
        public var front: [Float]
        public var back: [Float]
        /// Where the ray first leaves the solid and where it last enters it (the ends of the
        /// first and last of its inside intervals): `back` and `front` where it crosses the solid
        /// once, so [front, firstExit] ∪ [lastEntry, back] is always what the ray sees inside,
        /// with one gap at most (the middle ones of three or more intervals are filled).
        public var firstExit: [Float]
        public var lastEntry: [Float]
        /// 1 where the pixel centre's ray meets the mesh.
        public var mask: [Float]
    }

    /// The conditioning crop a photo of `mesh` from `camera` at `photoResolution`² gets, from its
    /// projected vertices (a pixel counts as the object's when its centre is 0.4 px inside their
    /// bounding box, which is what the alpha > 0.8 rule gives to within a pixel).
    public static func crop(
        _ mesh: TriangleMesh, camera: (extrinsics: Matrix4, intrinsics: Matrix3),
        photoResolution: Int
    ) -> LayeredDepthLift.Crop {
        let e = camera.extrinsics
        let k = camera.intrinsics
        let w = Double(photoResolution)
        var (u0, u1, v0, v1) = (
            Double.infinity, -Double.infinity, Double.infinity, -Double.infinity
        )
        for p in mesh.vertices {
            let cx = e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3]
            let cy = e[4] * p.x + e[5] * p.y + e[6] * p.z + e[7]
            let cz = e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11]
            let u = Double(k[0] * cx / cz + k[2])
            let v = Double(k[4] * cy / cz + k[5])
            (u0, u1, v0, v1) = (min(u0, u), max(u1, u), min(v0, v), max(v1, v))
        }
        // A pixel is alpha > 0.8 when most of it is covered: its centre at least `inset` inside.
        let inset = 0.4
        let box = ImagePreprocess.cropBox(
            minX: Int((u0 * w - 0.5 + inset).rounded(.up)),
            maxX: Int((u1 * w - 0.5 - inset).rounded(.down)),
            minY: Int((v0 * w - 0.5 + inset).rounded(.up)),
            maxY: Int((v1 * w - 0.5 - inset).rounded(.down)))
        return .init(
            u0: Double(box.x0) / w, v0: Double(box.y0) / w, width: Double(box.x1 - box.x0) / w,
            height: Double(box.y1 - box.y0) / w)
    }

    /// Rasterizes `mesh` (both faces) at the centres of `grid`² pixels over `crop`: per pixel the
    /// nearest and farthest perspective-correct depth, and the ends of the first and last inside
    /// intervals. The parts are closed meshes with outward faces, which may overlap (merged
    /// shapes), so the intervals come from a winding count along the ray: +1 where it crosses a
    /// face toward the camera (entering), −1 where it crosses one facing away, inside where the
    /// count is positive. A part's faces inside another part then split nothing.
    public static func maps(
        _ mesh: TriangleMesh, camera: (extrinsics: Matrix4, intrinsics: Matrix3),
        crop: LayeredDepthLift.Crop, grid g: Int
    ) -> Maps {
        let e = camera.extrinsics
        let k = camera.intrinsics
        let radius = (e[3] * e[3] + e[7] * e[7] + e[11] * e[11]).squareRoot()
        // Vertices in camera coordinates, and in crop pixels (x, y) with camera depth.
        let cameraSpace = mesh.vertices.map { p -> SIMD3<Float> in
            SIMD3(
                e[0] * p.x + e[1] * p.y + e[2] * p.z + e[3],
                e[4] * p.x + e[5] * p.y + e[6] * p.z + e[7],
                e[8] * p.x + e[9] * p.y + e[10] * p.z + e[11])
        }
        let projected = cameraSpace.map { p -> SIMD3<Float> in
            let cz = max(p.z, 1e-3)
            let u = Double(k[0] * p.x / cz + k[2])
            let v = Double(k[4] * p.y / cz + k[5])
            return SIMD3(
                Float((u - crop.u0) / crop.width * Double(g)),
                Float((v - crop.v0) / crop.height * Double(g)), cz)
        }
        var near = [Float](repeating: .infinity, count: g * g)
        var far = [Float](repeating: -.infinity, count: g * g)
        // Per pixel: (depth, +1 entering / −1 leaving) of every face its ray crosses.
        var crossings = [[(z: Float, sign: Int8)]](repeating: [], count: g * g)
        for f in mesh.faces {
            let a = projected[Int(f.x)]
            let b = projected[Int(f.y)]
            let c = projected[Int(f.z)]
            // Outward normal in camera space; the face is toward the camera (the ray enters)
            // when it points back along the ray to the face.
            let (ca, cb, cc) = (cameraSpace[Int(f.x)], cameraSpace[Int(f.y)], cameraSpace[Int(f.z)])
            let (u, w) = (cb - ca, cc - ca)
            let normal = SIMD3(u.y * w.z - u.z * w.y, u.z * w.x - u.x * w.z, u.x * w.y - u.y * w.x)
            let sign: Int8 = (normal * (ca + cb + cc)).sum() < 0 ? 1 : -1
            let area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
            guard abs(area) > 1e-12 else { continue }
            let x0 = max(0, Int((min(a.x, b.x, c.x) - 0.5).rounded(.up)))
            let x1 = min(g - 1, Int((max(a.x, b.x, c.x) - 0.5).rounded(.down)))
            let y0 = max(0, Int((min(a.y, b.y, c.y) - 0.5).rounded(.up)))
            let y1 = min(g - 1, Int((max(a.y, b.y, c.y) - 0.5).rounded(.down)))
            guard x0 <= x1, y0 <= y1 else { continue }
            for py in y0...y1 {
                let y = Float(py) + 0.5
                for px in x0...x1 {
                    let x = Float(px) + 0.5
                    let w0 = ((b.x - x) * (c.y - y) - (b.y - y) * (c.x - x)) / area
                    let w1 = ((c.x - x) * (a.y - y) - (c.y - y) * (a.x - x)) / area
                    let w2 = 1 - w0 - w1
                    guard w0 >= -1e-6, w1 >= -1e-6, w2 >= -1e-6 else { continue }
                    let z = 1 / (w0 / a.z + w1 / b.z + w2 / c.z)
                    let i = py * g + px
                    near[i] = min(near[i], z)
                    far[i] = max(far[i], z)
                    crossings[i].append((z, sign))
                }
            }
        }
        let zeros = [Float](repeating: 0, count: g * g)
        var maps = Maps(
            front: zeros, back: zeros, firstExit: zeros, lastEntry: zeros, mask: zeros)
        for i in 0..<(g * g) where near[i].isFinite {
            let spans = insideIntervals(crossings[i])
            let first = spans.first ?? (near[i], far[i])
            let last = spans.last ?? (near[i], far[i])
            maps.front[i] = near[i] - radius
            maps.back[i] = far[i] - radius
            maps.firstExit[i] = min(max(first.1, near[i]), far[i]) - radius
            maps.lastEntry[i] = min(max(last.0, near[i]), far[i]) - radius
            maps.mask[i] = 1
        }
        return maps
    }

    /// The inside intervals along one ray from its face crossings: sorted by depth, where the
    /// winding count is positive. A count left open at the last crossing closes there (a ray
    /// through a shared edge can count one face twice), and spans thinner than 0.002 (grazing
    /// an edge) are dropped while others remain.
    static func insideIntervals(_ crossings: [(z: Float, sign: Int8)]) -> [(Float, Float)] {
        let sorted = crossings.sorted { $0.z != $1.z ? $0.z < $1.z : $0.sign > $1.sign }
        var spans: [(Float, Float)] = []
        var count = 0
        var start: Float = 0
        for c in sorted {
            if c.sign > 0 {
                if count == 0 { start = c.z }
                count += 1
            } else if count > 0 {
                count -= 1
                if count == 0 { spans.append((start, c.z)) }
            }
        }
        if count > 0, let last = sorted.last { spans.append((start, last.z)) }
        let solid = spans.filter { $0.1 - $0.0 >= 0.002 }
        return solid.isEmpty ? spans : solid
    }
}

extension EmbeddedDefault {
    /// The embedded default's layered-depth prior: the image encoder's ViT (its weights are the
    /// starting point) and 56² depth maps (7×7 pixels a token) around the conditioning camera,
    /// with a refinement U-Net of `refineChannels` base channels (0: none), reading the crop's
    /// place in the photo when `cropInput`, with `intervals` inside intervals per ray (1 or 2).
    public static func layeredDepthConfig(
        refineChannels: Int = 32, cropInput: Bool = false, intervals: Int = 1
    ) -> LayeredDepthConfig {
        LayeredDepthConfig(
            encoder: imageEncoderConfig, grid: 56, yaw: frontYaw, pitch: 0.3, fov: 40,
            yawScale: 0.15, pitchScale: 0.15, fovScale: 10,
            refineChannels: refineChannels > 0 ? refineChannels : nil,
            cropInput: cropInput ? true : nil, intervals: intervals == 1 ? nil : intervals)
    }

    /// `layeredDepthConfig` with the refinement U-Net the weights have (from the width of
    /// `head.refine.down.0.weight`) and the crop planes they read (`head.fuse.0.weight` with two
    /// more input channels than the head's 64) and the intervals (`head.out.weight`'s outputs
    /// over 2), so every run packages alike.
    public static func layeredDepthConfig(matching weights: [String: Tensor]) -> LayeredDepthConfig
    {
        let width = weights["head.refine.down.0.weight"]?.shape.first ?? 0
        let fuseInputs = weights["head.fuse.0.weight"]?.shape.dropFirst().first ?? 64
        let outputs = weights["head.out.weight"]?.shape.first ?? 2
        return layeredDepthConfig(
            refineChannels: width / 2, cropInput: fuseInputs == 66, intervals: outputs == 4 ? 2 : 1)
    }

    /// Weights of an earlier prior made to fit `model`: a U-Net it lacks is taken as `model`
    /// initialised it (its last convolution at zero keeps the maps), crop planes it did not read
    /// get zero weights in `head.fuse.0`, and a one-interval prior's output convolutions
    /// (front, back) are extended to two intervals with first exit = back and last entry = front,
    /// so `model` starts with exactly the earlier maps and surface.
    public static func adaptLayeredDepthWeights(
        _ weights: [String: Tensor], to model: LayeredDepthModel
    ) -> [String: Tensor] {
        var weights = weights
        let own = model.stateDict()
        if !weights.keys.contains(where: { $0.hasPrefix("head.refine.") }) {
            for (key, value) in own where key.hasPrefix("head.refine.") { weights[key] = value }
        }
        let key = "head.fuse.0.weight"
        if let w = weights[key], let target = own[key], w.shape.count == 4,
            target.shape.count == 4, w.shape[1] < target.shape[1], w.shape[0] == target.shape[0]
        {
            let extra = Tensor(zeros: [w.shape[0], target.shape[1] - w.shape[1]] + w.shape[2...])
            weights[key] = Tensor.cat([w, extra], axis: 1).contiguous()
        }
        for stem in ["head.out", "head.refine.out"] {
            for part in ["weight", "bias"] {
                let key = "\(stem).\(part)"
                guard let w = weights[key], let target = own[key], w.shape.first == 2,
                    target.shape.first == 4
                else { continue }
                // Channels (front, back) -> (front, back, first exit = back, last entry = front).
                weights[key] = Tensor.cat([w, w.slice(0, 1, 2), w.slice(0, 0, 1)], axis: 0)
                    .contiguous()
            }
        }
        return weights
    }
}

/// Trains a `LayeredDepthModel` on the photo bank or on photos rendered on demand: L1 of the
/// front and back depth (and with two intervals the first exit and last entry) over the pixels
/// the shape covers (plus, optionally, L1 of their neighbour
/// differences), plus 0.1 × the MSE of the camera offsets (each scaled to about [-1, 1]).
/// Model: `layered_depth`.
public final class LayeredDepthPretraining: TrainingObjective {
    public let model: LayeredDepthModel
    /// Where the photos come from: a fixed bank, or rendered on demand.
    public enum Source: Sendable {
        case bank(ConditionPhotoBank)
        case online(OnlineConditionPhotos)
    }
    public let source: Source
    /// Render size of the photos (their crops come from it).
    public let photoResolution: Int
    public weak var trainer: Trainer?

    public var models: [(name: String, module: Module)] { [("layered_depth", model)] }
    public var datasetCount: Int {
        switch source {
        case .bank(let bank): return bank.count
        case .online(let online): return online.count
        }
    }

    /// Weight of the depth-gradient term: L1 between neighbouring pixels' predicted and true
    /// depth differences (both pixels covered). It penalises maps that are right on average but
    /// flattened, which plain L1 allows.
    public let gradientWeight: Float

    public init(
        model: LayeredDepthModel, bank: ConditionPhotoBank, photoResolution: Int = 192,
        gradientWeight: Float = 0
    ) {
        self.model = model
        self.source = .bank(bank)
        self.photoResolution = photoResolution
        self.gradientWeight = gradientWeight
    }

    /// Trains on photos rendered on demand: every step a fresh view of each shape, from as many
    /// shapes as `online` has (a bank of 4000 shapes was memorised: training depth L1 0.054 ->
    /// 0.042 while the held-out L1 stayed at 0.079).
    public init(model: LayeredDepthModel, online: OnlineConditionPhotos, gradientWeight: Float = 0)
    {
        self.model = model
        self.source = .online(online)
        self.photoResolution = online.photoResolution
        self.gradientWeight = gradientWeight
    }

    /// Targets of view `view` of shape `item`: its maps and camera offsets, and its crop frame
    /// (an input of priors with `crop_input`).
    public func target(item: Int, view: Int) throws -> (
        maps: LayeredDepthTarget.Maps, camera: [Float], crop: LayeredDepthLift.Crop
    ) {
        let mesh = EmbeddedDefault.shapes.shape(item).mesh
        let camera = try ConditionPhotoBank.camera(item: item, view: view)
        let c = model.config
        let crop = LayeredDepthTarget.crop(mesh, camera: camera, photoResolution: photoResolution)
        let maps = LayeredDepthTarget.maps(mesh, camera: camera, crop: crop, grid: c.grid)
        let p = EmbeddedDefault.conditionCameraParameters(
            seed: ConditionPhotoBank.cameraSeed(item: item, view: view))
        return (
            maps,
            [
                Float((p.yaw - c.yaw) / c.yawScale), Float((p.pitch - c.pitch) / c.pitchScale),
                Float((p.fov - c.fov) / c.fovScale),
            ],
            crop
        )
    }

    public func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor] {
        let step = trainer?.step ?? 0
        let photos: Tensor
        let targets: [(maps: LayeredDepthTarget.Maps, camera: [Float], crop: LayeredDepthLift.Crop)]
        switch source {
        case .bank(let bank):
            let views = items.map { bank.view(item: $0, step: step, salt: 3) }
            photos = bank.batch(items, views: views)
            targets = try zip(items, views).map { try target(item: $0, view: $1) }
        case .online(let online):
            // Each item's photo and maps on its own thread (rendering dominates the step
            // otherwise); results land by index, so the batch does not depend on the timing.
            let slots = ResultSlots<
                ([UInt8], (LayeredDepthTarget.Maps, [Float], LayeredDepthLift.Crop))
            >(items.count)
            Parallel.run(chunks: items.count) { b in
                slots.set(b) {
                    let view = online.view(item: items[b], step: step, salt: 3)
                    return (
                        try online.photo(item: items[b], view: view),
                        try self.target(item: items[b], view: view)
                    )
                }
            }
            let done = try slots.values()
            let size = EmbeddedDefault.imageSize
            photos = Tensor(
                done.flatMap { $0.0.map { Float($0) / 255 } },
                shape: [items.count, 3, size, size])
            targets = done.map { (maps: $0.1.0, camera: $0.1.1, crop: $0.1.2) }
        }
        let g2 = model.config.grid * model.config.grid
        let channels = model.config.depthChannels
        var depth = [Float](repeating: 0, count: items.count * channels * g2)
        var mask = depth
        var camera = [Float](repeating: 0, count: items.count * 3)
        for b in items.indices {
            let t = targets[b]
            let maps = [t.maps.front, t.maps.back, t.maps.firstExit, t.maps.lastEntry]
            for c in 0..<channels {
                let base = (b * channels + c) * g2
                depth.replaceSubrange(base..<base + g2, with: maps[c])
                mask.replaceSubrange(base..<base + g2, with: t.maps.mask)
            }
            camera.replaceSubrange(b * 3..<b * 3 + 3, with: t.camera)
        }
        let g = model.config.grid
        let m = Tensor(mask, shape: [items.count, channels, g, g])
        let (predDepth, predCamera) = try model(
            photos, crops: model.config.takesCrop ? targets.map(\.crop) : nil)
        let covered = max(mask.reduce(0, +), 1)
        let d = predDepth - Tensor(depth, shape: m.shape)
        let l1 = (d.abs() * m).sum() * (1 / covered)
        let cam = Loss.mse(predCamera, Tensor(camera, shape: [items.count, 3]))
        var terms: [String: Tensor] = [:]
        var loss = l1 + 0.1 * cam
        if gradientWeight > 0 {
            // Differences of the error between neighbours = predicted minus true gradients.
            let gx = d.slice(3, 1) - d.slice(3, 0, g - 1)
            let mx = m.slice(3, 1) * m.slice(3, 0, g - 1)
            let gy = d.slice(2, 1) - d.slice(2, 0, g - 1)
            let my = m.slice(2, 1) * m.slice(2, 0, g - 1)
            let grad =
                (gx.abs() * mx).sum() * (1 / max(mx.sum().item, 1))
                + (gy.abs() * my).sum() * (1 / max(my.sum().item, 1))
            terms["gradient_l1"] = grad
            loss = loss + gradientWeight * grad
        }
        terms["loss"] = loss
        terms["depth_l1"] = l1
        terms["camera_mse"] = cam
        return terms
    }
}

/// One result per index, filled from parallel workers (each index by one worker), with the
/// first error kept.
final class ResultSlots<T>: @unchecked Sendable {
    private var results: [Result<T, Error>?]
    private let lock = NSLock()
    init(_ count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ body: () throws -> T) {
        let r = Result { try body() }
        lock.lock()
        results[i] = r
        lock.unlock()
    }
    func values() throws -> [T] {
        try results.enumerated().map { i, r in
            guard let r else {
                throw LatticeError(.invalidArgument, "result \(i) of \(results.count) never set")
            }
            return try r.get()
        }
    }
}

extension EmbeddedDefault {
    /// How well a layered-depth prior's lifted surface matches the truth on held-out shapes.
    public struct LayeredDepthScore: Sendable {
        /// Mean |error| of front and back depth over the true mask (world units).
        public var depthL1: Double
        /// The same for the front map alone (the visible side) and the back map alone.
        public var frontL1: Double
        public var backL1: Double
        /// The same for the first exit and last entry (a one-interval prior's are its back and
        /// front).
        public var gapL1: Double
        /// |error| of the predicted yaw and pitch (radians) and fov (degrees).
        public var yawError: Double
        public var pitchError: Double
        public var fovError: Double
        /// Voxel F (one-cell tolerance) of the lifted surface with the predicted
        /// camera, with the true camera, and of the true depth maps lifted with the true camera
        /// (the lift alone), and of the true front and back alone (one interval per ray).
        public var fScore: Double
        public var fScoreTrueCamera: Double
        public var fScoreTrueDepth: Double
        public var fScoreTrueDepthOneInterval: Double
    }

    /// Scores `model` on photos (view 0, rendered at 192²) of `items`.
    /// With `dump`, writes `<dump>/depth_<item>.png` per shape: the conditioning image, then the
    /// true and predicted front depth, then the true and predicted back depth (near is bright,
    /// ±0.6 around the origin's depth; black outside the mask).
    public static func scoreLayeredDepth(
        _ model: LayeredDepthModel, items: [Int], dump: URL? = nil,
        progress: (Int) -> Void = { _ in }
    ) throws -> [LayeredDepthScore] {
        let data = ProceduralVoxelDataset(
            shapes: shapes, count: (items.max() ?? 0) + 1, resolution: resolution)
        var out: [LayeredDepthScore] = []
        let g = model.config.grid
        for (n, item) in items.enumerated() {
            let mesh = shapes.shape(item).mesh
            let camera = try ConditionPhotoBank.camera(item: item, view: 0)
            let truthParams = conditionCameraParameters(
                seed: ConditionPhotoBank.cameraSeed(item: item, view: 0))
            let photo = PixelImage(try self.photo(mesh, camera: camera, size: 192))
            let crop = try ImagePreprocess.cropFrame(photo, source: "shape \(item)")
            let frame = LayeredDepthLift.Crop(
                u0: crop.u0, v0: crop.v0, width: crop.width, height: crop.height)
            let input = try ImagePreprocess.prepare(
                photo, size: imageSize, source: "shape \(item)")
            let mask = try ImagePreprocess.alphaMask(photo, size: g, source: "shape \(item)")
            let p = try model.predict(ImagePreprocess.batch([input]), crop: frame)
            let truth = LayeredDepthTarget.maps(mesh, camera: camera, crop: frame, grid: g)
            var (errFront, errBack, errGap) = (0.0, 0.0, 0.0)
            var count = 0.0
            let gap = p.gap ?? (p.back, p.front)
            for i in truth.mask.indices where truth.mask[i] > 0 {
                errFront += abs(Double(p.front[i] - truth.front[i]))
                errBack += abs(Double(p.back[i] - truth.back[i]))
                errGap += abs(Double(gap.firstExit[i] - truth.firstExit[i]))
                errGap += abs(Double(gap.lastEntry[i] - truth.lastEntry[i]))
                count += 1
            }
            if let dump {
                try writeDepthComparison(
                    input: input, maps: [truth.front, p.front, truth.back, p.back],
                    mask: truth.mask, grid: g,
                    to: dump.appendingPathComponent("depth_\(item).png"))
            }
            let trueVoxels = try data.coords(item)
            func voxelF(
                front: [Float], back: [Float], gap: ([Float], [Float])?, mask: [Float],
                yaw: Double, pitch: Double, fov: Double
            ) throws -> Double {
                let radius = (3.0.squareRoot() / 2) / sin(fov / 2 * Double.pi / 180)
                let cam = try yawPitchRadiusFovToExtrinsicsIntrinsics(
                    yaw: yaw, pitch: pitch, radius: radius, fovDegrees: fov)
                let cells = LayeredDepthLift.surface(
                    front: front, back: back, gap: gap, mask: mask, grid: g, crop: frame,
                    camera: cam, resolution: resolution)
                let r = resolution
                var voxels: [SIMD3<Int32>] = []
                for i in cells.indices where cells[i] > 0.5 {
                    let x = Int32(i / (r * r))
                    let y = Int32(i / r % r)
                    voxels.append(SIMD3(x, y, Int32(i % r)))
                }
                return structureScore(sampled: voxels, truth: trueVoxels).fScore
            }
            out.append(
                LayeredDepthScore(
                    depthL1: (errFront + errBack) / 2 / max(count, 1),
                    frontL1: errFront / max(count, 1), backL1: errBack / max(count, 1),
                    gapL1: errGap / 2 / max(count, 1),
                    yawError: abs(p.yaw - truthParams.yaw),
                    pitchError: abs(p.pitch - truthParams.pitch),
                    fovError: abs(p.fov - truthParams.fov),
                    fScore: try voxelF(
                        front: p.front, back: p.back, gap: p.gap, mask: mask, yaw: p.yaw,
                        pitch: p.pitch, fov: p.fov),
                    fScoreTrueCamera: try voxelF(
                        front: p.front, back: p.back, gap: p.gap, mask: mask,
                        yaw: truthParams.yaw, pitch: truthParams.pitch, fov: truthParams.fov),
                    fScoreTrueDepth: try voxelF(
                        front: truth.front, back: truth.back,
                        gap: (truth.firstExit, truth.lastEntry), mask: truth.mask,
                        yaw: truthParams.yaw, pitch: truthParams.pitch, fov: truthParams.fov),
                    fScoreTrueDepthOneInterval: try voxelF(
                        front: truth.front, back: truth.back, gap: nil, mask: truth.mask,
                        yaw: truthParams.yaw, pitch: truthParams.pitch, fov: truthParams.fov),
                ))
            progress(n + 1)
        }
        return out
    }
}

extension EmbeddedDefault {
    /// The conditioning image and depth maps side by side (each at the image's size, nearest).
    static func writeDepthComparison(
        input: RasterImage, maps: [[Float]], mask: [Float], grid g: Int, to url: URL
    ) throws {
        let s = input.width
        let gap = 4
        let w = s * (maps.count + 1) + gap * maps.count
        var out = [Float](repeating: 1, count: w * s * 3)
        for y in 0..<s {
            for x in 0..<s {
                for c in 0..<3 {
                    out[(y * w + x) * 3 + c] = input.pixels[(y * s + x) * input.channels + c]
                }
                let p = (y * g / s) * g + x * g / s
                for (k, map) in maps.enumerated() {
                    let v: Float = mask[p] > 0 ? min(max(0.5 - map[p] / 1.2, 0), 1) : 0
                    let x0 = (k + 1) * (s + gap) + x
                    for c in 0..<3 { out[(y * w + x0) * 3 + c] = v }
                }
            }
        }
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try writePNG(RasterImage(width: w, height: s, channels: 3, pixels: out), to: url)
    }
}
