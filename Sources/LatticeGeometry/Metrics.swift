// Geometry metrics: a 3-D KD-tree for nearest neighbours, Chamfer distance and F-score on
// surface samples, as the ReconViaGen evaluation states them (100k samples, each object
// normalised to [-1, 1]³, F-score radius 0.1). Where the paper leaves a convention open the
// choice is named in the doc comment and can be switched.
import Foundation
import LatticeTensor

/// A balanced KD-tree over 3-D points (implicit layout: each range's median is its node).
public struct KDTree: Sendable {
    /// The points, permuted into tree order.
    public let points: [SIMD3<Float>]
    /// Original index of each tree-ordered point.
    public let indices: [Int32]
    private let splitAxis: [UInt8]

    /// Builds the tree; O(n log² n).
    public init(points input: [SIMD3<Float>]) {
        var idx = Array(0..<Int32(input.count))
        var axis = [UInt8](repeating: 0, count: input.count)
        func build(_ lo: Int, _ hi: Int) {
            guard hi - lo > 1 else { return }
            var mn = SIMD3<Float>(repeating: .infinity)
            var mx = SIMD3<Float>(repeating: -.infinity)
            for i in lo..<hi {
                mn = pointwiseMin(mn, input[Int(idx[i])])
                mx = pointwiseMax(mx, input[Int(idx[i])])
            }
            let ext = mx - mn
            let a = ext.x >= ext.y && ext.x >= ext.z ? 0 : (ext.y >= ext.z ? 1 : 2)
            let mid = (lo + hi) / 2
            idx[lo..<hi].sort { input[Int($0)][a] < input[Int($1)][a] }
            axis[mid] = UInt8(a)
            build(lo, mid)
            build(mid + 1, hi)
        }
        build(0, input.count)
        points = idx.map { input[Int($0)] }
        indices = idx
        splitAxis = axis
    }

    /// Number of points.
    public var count: Int { points.count }

    /// The nearest point to `q`: (original index, squared distance); (-1, inf) when empty.
    public func nearest(_ q: SIMD3<Float>) -> (index: Int, distanceSquared: Float) {
        var best: Float = .infinity
        var bestI = -1
        points.withUnsafeBufferPointer { p in
            splitAxis.withUnsafeBufferPointer { ax in
                search(q, 0, p.count, p, ax, &best, &bestI)
            }
        }
        return (bestI < 0 ? -1 : Int(indices[bestI]), best)
    }

    private func search(
        _ q: SIMD3<Float>, _ lo: Int, _ hi: Int, _ p: UnsafeBufferPointer<SIMD3<Float>>,
        _ ax: UnsafeBufferPointer<UInt8>, _ best: inout Float, _ bestI: inout Int
    ) {
        if hi - lo <= 8 {
            for i in lo..<hi {
                let d = p[i] - q
                let d2 = (d * d).sum()
                if d2 < best || (d2 == best && i < bestI) {
                    best = d2
                    bestI = i
                }
            }
            return
        }
        let mid = (lo + hi) / 2
        let a = Int(ax[mid])
        let d = p[mid] - q
        let d2 = (d * d).sum()
        if d2 < best {
            best = d2
            bestI = mid
        }
        let diff = q[a] - p[mid][a]
        let (first, second) = diff < 0 ? ((lo, mid), (mid + 1, hi)) : ((mid + 1, hi), (lo, mid))
        search(q, first.0, first.1, p, ax, &best, &bestI)
        if diff * diff < best { search(q, second.0, second.1, p, ax, &best, &bestI) }
    }

    /// Nearest-neighbour distances (not squared) from every query, in parallel.
    public func nearestDistances(_ queries: [SIMD3<Float>]) -> [Float] {
        var out = [Float](repeating: 0, count: queries.count)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forRange(queries.count, grain: 1024) { r in
                for i in r { o[i] = nearest(queries[i]).distanceSquared.squareRoot() }
            }
        }
        return out
    }
}

/// Brute-force nearest-neighbour distances: the naive twin of `KDTree.nearestDistances`.
public func nearestDistancesBruteForce(_ queries: [SIMD3<Float>], _ points: [SIMD3<Float>])
    -> [Float]
{
    queries.map { q in
        var best = Float.infinity
        for p in points {
            let d = p - q
            best = min(best, (d * d).sum())
        }
        return best.squareRoot()
    }
}

/// Chamfer distance and F-score between a predicted and a reference point set.
public struct ChamferResult: Sendable, Equatable {
    /// Mean distance from predicted points to the reference ("accuracy").
    public var accuracy: Float
    /// Mean distance from reference points to the prediction ("completeness").
    public var completeness: Float
    /// accuracy + completeness (the symmetric "L1" Chamfer distance: unsquared distances,
    /// each direction averaged over its own points, the two directions summed).
    public var chamfer: Float { accuracy + completeness }
    /// Fraction of predicted points within the radius of the reference.
    public var precision: Float
    /// Fraction of reference points within the radius of the prediction.
    public var recall: Float
    /// Harmonic mean of precision and recall (0 when both are 0).
    public var fScore: Float {
        precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
    }
}

/// Chamfer distance and F-score at `radius` from nearest-neighbour distances (`< radius` counts).
public func chamferAndFScore(
    predicted: [SIMD3<Float>], reference: [SIMD3<Float>], radius: Float = 0.1
) -> ChamferResult {
    let dPred = KDTree(points: reference).nearestDistances(predicted)
    let dRef = KDTree(points: predicted).nearestDistances(reference)
    return chamferResult(dPred, dRef, radius)
}

/// The naive twin of `chamferAndFScore` (O(n·m)).
public func chamferAndFScoreBruteForce(
    predicted: [SIMD3<Float>], reference: [SIMD3<Float>], radius: Float = 0.1
) -> ChamferResult {
    chamferResult(
        nearestDistancesBruteForce(predicted, reference),
        nearestDistancesBruteForce(reference, predicted), radius)
}

func chamferResult(_ dPred: [Float], _ dRef: [Float], _ radius: Float) -> ChamferResult {
    func mean(_ d: [Float]) -> Float {
        d.isEmpty ? .infinity : Float(d.reduce(0.0) { $0 + Double($1) } / Double(d.count))
    }
    func within(_ d: [Float]) -> Float {
        d.isEmpty ? 0 : Float(d.filter { $0 < radius }.count) / Float(d.count)
    }
    return ChamferResult(
        accuracy: mean(dPred), completeness: mean(dRef), precision: within(dPred),
        recall: within(dRef))
}

/// Maps points so their bounding box is centred at 0 and its longest side spans [-1, 1].
public func normalizedToUnitCube(_ points: [SIMD3<Float>]) -> [SIMD3<Float>] {
    guard var lo = points.first else { return [] }
    var hi = lo
    for p in points {
        lo = pointwiseMin(lo, p)
        hi = pointwiseMax(hi, p)
    }
    let center = (lo + hi) / 2
    let half = max((hi - lo).max() / 2, 1e-12)
    return points.map { ($0 - center) / half }
}

/// Which surface of the reference mesh `meshChamferAndFScore` samples.
public enum ReferenceSurface: Sendable {
    /// Every face (the mesh as stored).
    case allFaces
    /// The solid's outer surface: faces inside another closed part left out
    /// (`sampleOuterSurface`), for references modelled as overlapping closed parts.
    case outer
}

/// How `meshChamferAndFScore` brings the two meshes to a common scale.
public enum MetricNormalization: Sendable {
    /// Each mesh to [-1, 1]³ by its own bounding box (the default: "normalise the object").
    case eachToUnitCube
    /// Both meshes by the reference's bounding box (keeps relative scale errors visible).
    case referenceToUnitCube
    /// Use the coordinates as they are.
    case none
}

/// Chamfer distance and F-score between two meshes from `samples` area-weighted surface
/// points each (ReconViaGen: 100k points, radius 0.1 after normalising to [-1, 1]³).
public func meshChamferAndFScore(
    predicted: TriangleMesh, reference: TriangleMesh, samples: Int = 100_000,
    radius: Float = 0.1, normalization: MetricNormalization = .eachToUnitCube,
    referenceSurface: ReferenceSurface = .allFaces, generator: inout RandomGenerator
) -> ChamferResult {
    var p = predicted.sampleSurface(count: samples, generator: &generator).points
    var r: [SIMD3<Float>]
    switch referenceSurface {
    case .allFaces: r = reference.sampleSurface(count: samples, generator: &generator).points
    case .outer: r = reference.sampleOuterSurface(count: samples, generator: &generator).points
    }
    switch normalization {
    case .eachToUnitCube:
        p = normalizedToUnitCube(p)
        r = normalizedToUnitCube(r)
    case .referenceToUnitCube:
        if let b = TriangleMesh(vertices: r, faces: []).bounds {
            let center = (b.min + b.max) / 2
            let half = max((b.max - b.min).max() / 2, 1e-12)
            p = p.map { ($0 - center) / half }
            r = r.map { ($0 - center) / half }
        }
    case .none:
        break
    }
    return chamferAndFScore(predicted: p, reference: r, radius: radius)
}
