// Scores the photo -> sparse-structure half of the embedded default without meshing: the SS flow
// samples from a photo's tokens, the SS decoder gives the occupied voxels, and those are compared
// with the shape's own surface voxels. The demo's F-score needs the whole pipeline and a mesh;
// this isolates the stage that limits it (with the structure taken from the ground truth the
// demo scores F 1.0 on every example) and runs in about a second a shape.
import Foundation
import LatticeGeometry
import LatticeModels
import LatticePipelines
import LatticeTensor

extension EmbeddedDefault {
    /// How well sampled structures match the ground truth, on the structure grid.
    public struct StructureScore: Sendable {
        /// Voxel F-score: precision and recall count a voxel as matched when the other set has
        /// a voxel within one cell (Chebyshev distance 1, ≤ 0.11 of the [-1, 1] box at 32³,
        /// so it tracks the demo's F@0.1).
        public var fScore: Double
        /// Intersection over union of the voxel sets (no tolerance).
        public var iou: Double
        /// Occupied voxels sampled, and in the ground truth.
        public var sampled: Int
        public var truth: Int
        /// The voxel F-score with both sets max-pooled to 16³ (set by `scoreStructures`).
        public var coarseFScore: Double = .nan
        /// The sampled and true voxels (set by `scoreStructures`).
        public var sampledVoxels: [SIMD3<Int32>] = []
        public var trueVoxels: [SIMD3<Int32>] = []
    }

    /// Voxel F-score (tolerance one cell) and IoU of `sampled` against `truth`.
    public static func structureScore(sampled: [SIMD3<Int32>], truth: [SIMD3<Int32>])
        -> StructureScore
    {
        let a = Set(sampled)
        let b = Set(truth)
        func matched(_ from: Set<SIMD3<Int32>>, in other: Set<SIMD3<Int32>>) -> Int {
            from.reduce(0) { n, v in
                for dx in Int32(-1)...1 {
                    for dy in Int32(-1)...1 {
                        for dz in Int32(-1)...1
                        where other.contains(v &+ SIMD3(dx, dy, dz)) {
                            return n + 1
                        }
                    }
                }
                return n
            }
        }
        let precision = a.isEmpty ? 0 : Double(matched(a, in: b)) / Double(a.count)
        let recall = b.isEmpty ? 0 : Double(matched(b, in: a)) / Double(b.count)
        let f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        let union = a.union(b).count
        return StructureScore(
            fScore: f, iou: union == 0 ? 1 : Double(a.intersection(b).count) / Double(union),
            sampled: a.count, truth: b.count)
    }

    /// Samples the structure of each shape in `items` from its bank photo (view 0, the camera
    /// `ConditionPhotoBank.camera` gives training and held-out shapes alike) and scores it
    /// against the shape's surface voxels. Sampler settings are the shipped pipeline's.
    public static func scoreStructures(
        flow: SparseStructureFlowModel, decoder: SparseStructureDecoder,
        imageEncoder: DinoVisionTransformer, items: [Int], steps: Int = 25,
        cfgStrength: Double = 3, rescaleT: Double = 3, seed: UInt64 = 1, samples: Int = 1,
        noiseScale: Double = 1, reconstructWith: SparseStructureEncoder? = nil,
        progress: (Int) -> Void = { _ in }
    ) throws -> [StructureScore] {
        imageEncoder.train(false)
        flow.train(false)
        decoder.train(false)
        var generator = RandomGenerator(seed: seed)
        let sampler = FlowEulerSampler(sigmaMin: 1e-5)
        let data = ProceduralVoxelDataset(
            shapes: shapes, count: (items.max() ?? 0) + 1, resolution: resolution)
        var scores: [StructureScore] = []
        for (k, item) in items.enumerated() {
            let mesh = shapes.shape(item).mesh
            let truth = try data.coords(item)  // the surface voxels, as the SS VAE trains on
            let photo = try conditionImage(
                photo(mesh, camera: ConditionPhotoBank.camera(item: item, view: 0), size: 192),
                source: "shape \(item)")
            let cond = try withNoGrad {
                try TrellisPipeline.conditionTokens(imageEncoder, ImagePreprocess.batch([photo]))
            }
            let neg = Tensor(zeros: cond.shape)
            let r = flow.config.resolution
            let shape = [samples, flow.config.inChannels, r, r, r]
            let noise = Tensor.randn(shape, generator: &generator) * Float(noiseScale)
            let coords = try withNoGrad { () throws -> Tensor in
                let z =
                    try reconstructWith.map { vae in vae(try data.occupancyBatch([item])).mean }
                    ?? sampler.sample(
                        model: { x, t, c in flow(x, t: t, cond: c) }, noise: noise, cond: cond,
                        negCond: neg, steps: steps, rescaleT: rescaleT,
                        guidance: cfgStrength == 0 ? nil : .init(strength: cfgStrength))
                let logits = decoder(z)  // [K, 1, R, R, R]
                guard samples > 1 else { return TrellisPipeline.occupiedCoords(logits) }
                let p = logits.sigmoid().mean(axes: [0], keepDims: true)
                return TrellisPipeline.occupiedCoords(p - Float(0.5))
            }
            let c = coords.toInts()  // [N, 4] (b, x, y, z)
            let sampled = stride(from: 0, to: c.count, by: 4).map {
                SIMD3(Int32(c[$0 + 1]), Int32(c[$0 + 2]), Int32(c[$0 + 3]))
            }
            var score = structureScore(sampled: sampled, truth: truth)
            // Both pooled to the image encoder's 16³ pre-training grid, to compare with its
            // head's own prediction (`coarseFScore` there).
            let pool = { (v: [SIMD3<Int32>]) in v.map { $0 / 2 } }
            score.coarseFScore = structureScore(sampled: pool(sampled), truth: pool(truth)).fScore
            score.sampledVoxels = sampled
            score.trueVoxels = truth
            scores.append(score)
            progress(k + 1)
        }
        return scores
    }
}
