// The naive twin of StrivecRender.swift (TRELLIS@6b0d647 octree renderer, diffoctreerast@b09c20b
// trivec forward kernel): every ray tests every voxel (no tiles, no projected boxes), orders the
// ones it enters by entry distance instead of the Morton code, and accumulates in Double.
import Foundation
import LatticeGeometry
import LatticeTensor

/// `renderStrivec` at the raster size (no supersampling) the slow, obvious way, in Double:
/// [H, W, 3] colour over `background`, [H, W] alpha and [H, W] depth.
public func renderStrivecReference(
    _ field: Strivec, extrinsics e: Matrix4, intrinsics k: Matrix3, width: Int, height: Int,
    background: SIMD3<Double> = .zero, sampleOffset: StrivecSampleOffset = .fixed(0.5),
    scaleModifier: Double = 1
) -> (rgb: [Double], alpha: [Double], depth: [Double]) {
    let n = field.count
    let (rank, dim) = (field.rank, field.dim)
    let pos = field.position.contiguous().toFloats().map(Double.init)
    let depths = field.depth.contiguous().toFloats()
    let trivec = field.trivec.contiguous().toFloats().map(Double.init)  // [N, R, 3, D]
    let density = field.density.contiguous().toFloats().map(Double.init)  // [N, R]
    let fdc = field.featuresDC.contiguous().toFloats().map(Double.init)  // [N, R, 1, 3]
    let shift = Double(field.densityShift)
    let aabb = field.aabb.map(Double.init)
    let c0 = 0.28209479177387814
    let r = (0..<9).map { Double(e[($0 / 3) * 4 + $0 % 3]) }  // [3, 3] world-to-camera
    let t = [Double(e[3]), Double(e[7]), Double(e[11])]
    let eye = (0..<3).map { a in -(r[a] * t[0] + r[3 + a] * t[1] + r[6 + a] * t[2]) }
    func softplus(_ x: Double) -> Double { x < 10 ? log1p(exp(x)) : x }
    func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    var rgb = [Double](repeating: 0, count: width * height * 3)
    var alphaOut = [Double](repeating: 0, count: width * height)
    var depthOut = [Double](repeating: 0, count: width * height)
    for py in 0..<height {
        for px in 0..<width {
            let u = ((Double(px) + 0.5) / Double(width) - Double(k[2])) / Double(k[0])
            let v = ((Double(py) + 0.5) / Double(height) - Double(k[5])) / Double(k[4])
            var dir = (0..<3).map { a in r[a] * u + r[3 + a] * v + r[6 + a] }  // R^T (u, v, 1)
            let length = (dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]).squareRoot()
            dir = dir.map { $0 / length }
            let jitter = Double(sampleOffset.value(pixel: py * width + px))
            // Every voxel the ray enters, with its slab interval.
            var hits: [(voxel: Int, near: Double, far: Double, lo: [Double], size: [Double])] = []
            for i in 0..<n {
                let size = (0..<3).map {
                    aabb[3 + $0] * pow(2, -Double(depths[i])) * scaleModifier
                }
                let centre = (0..<3).map { pos[3 * i + $0] * aabb[3 + $0] + aabb[$0] }
                // Upstream culls voxels whose centre is within 0.2 of the eye plane.
                let viewZ =
                    r[6] * centre[0] + r[7] * centre[1] + r[8] * centre[2] + t[2]
                if viewZ <= 0.2 { continue }
                var near = -Double.infinity
                var far = Double.infinity
                for a in 0..<3 {
                    let lo = centre[a] - size[a] / 2
                    let hi = centre[a] + size[a] / 2
                    if dir[a] == 0 {
                        if eye[a] < lo || eye[a] > hi { far = -1 }
                        continue
                    }
                    let ta = (lo - eye[a]) / dir[a]
                    let tb = (hi - eye[a]) / dir[a]
                    near = max(near, min(ta, tb))
                    far = min(far, max(ta, tb))
                }
                if far > near {
                    hits.append(
                        (i, near, far, (0..<3).map { centre[$0] - size[$0] / 2 }, size))
                }
            }
            hits.sort { $0.near < $1.near }
            var transmittance = 1.0
            var color = [0.0, 0.0, 0.0]
            var distance = 0.0
            march: for hit in hits {
                let step = 0.5 / Double(dim) * hit.size[0]
                let first = Int((hit.near / step - jitter).rounded(.up))
                let last = Int((hit.far / step - jitter).rounded(.down))
                if first > last { continue }
                for s in first...last {
                    let z = (Double(s) + jitter) * step
                    // Linear interpolation of each axis vector between its two nearest cells,
                    // extrapolating past the outer cell centres.
                    var cellIndex = [0, 0, 0]
                    var weight = [0.0, 0.0, 0.0]
                    for a in 0..<3 {
                        let p = eye[a] + z * dir[a]
                        let uu = (p - hit.lo[a]) / hit.size[a] * Double(dim) - 0.5
                        cellIndex[a] = min(dim - 2, max(0, Int(uu)))
                        weight[a] = uu - Double(cellIndex[a])
                    }
                    var x = 0.0
                    var y = [0.0, 0.0, 0.0]
                    for q in 0..<rank {
                        var value = 1.0
                        for a in 0..<3 {
                            let b = ((hit.voxel * rank + q) * 3 + a) * dim + cellIndex[a]
                            value *= trivec[b] * (1 - weight[a]) + trivec[b + 1] * weight[a]
                        }
                        x += density[hit.voxel * rank + q] * value
                        for c in 0..<3 { y[c] += c0 * fdc[(hit.voxel * rank + q) * 3 + c] * value }
                    }
                    let sigma = softplus(x - 10 * shift) * min(1 / (1 - shift), 25)
                    let alpha = min(1 - exp(-sigma * step), 0.999)
                    let w = alpha * transmittance
                    for c in 0..<3 { color[c] += sigmoid(y[c]) * w }
                    distance += z * w
                    transmittance *= 1 - alpha
                    if transmittance < 0.001 { break march }
                }
            }
            let p = py * width + px
            for c in 0..<3 { rgb[3 * p + c] = color[c] + transmittance * background[c] }
            alphaOut[p] = 1 - transmittance
            depthOut[p] = distance / length
        }
    }
    return (rgb, alphaOut, depthOut)
}
