// Differentiable pieces of mesh-decoder training, with the discrete work of a forward pass held
// fixed: FlexiCubes dual-vertex positions as a function of grid sdf, deformed positions and cube
// weights (FlexiCubes@815e075 flexicubes.py `_compute_vd`, topology from LatticeGeometry's
// `FlexiCubes.topology`), and per-pixel depth / normal of a rasterised mesh as a function of its
// vertex positions (the visible face per pixel from the rasterizer).
//
// Both are composed from recorded tensor ops (indexSelect, scatterAdd, elementwise), so their
// backward passes are those ops' rules. What is not covered: a change of topology (which cubes
// are surface cubes, which face covers a pixel) has no gradient, so silhouettes and the coverage
// mask get none (that needs an antialiasing pass like nvdiffrast's), and the quad split choice
// (gamma) and FlexiCubes' L_dev regulariser are not differentiated.
import Foundation
import LatticeGeometry
import LatticeRender
import LatticeTensor

/// FlexiCubes dual vertices as a differentiable function of grid values, topology fixed.
///
/// Dual vertex d of surface cube i is the β-weighted mean over its edge group of the edge
/// crossings u_e = (p0·s1 - p1·s0) / (s1 - s0) with s_k = sdf_k·α_k, where α = 0.99·tanh(raw α)
/// + 1 and β = 0.99·tanh(raw β) + 1 (upstream `weight_scale` 0.99).
public struct FlexiCubesDualVertices {
    /// The fixed bookkeeping.
    public let topology: FlexiCubesTopology
    /// Grid rows referenced by the topology (stored vertices plus defaults).
    public let gridRows: Int
    public let weightScale: Float
    // One entry per (dual vertex, edge of its group) [E].
    private let row0: Tensor
    private let row1: Tensor
    private let alpha0: Tensor
    private let alpha1: Tensor
    private let beta: Tensor
    private let dual: Tensor

    public init(topology: FlexiCubesTopology, weightScale: Float = 0.99) {
        self.topology = topology
        self.weightScale = weightScale
        var r0: [Int64] = []
        var r1: [Int64] = []
        var a0: [Int64] = []
        var a1: [Int64] = []
        var b: [Int64] = []
        var d: [Int64] = []
        let edges = FlexiCubesTables.edges
        for (i, c) in topology.cases.enumerated() {
            for (k, group) in FlexiCubesTables.edgeGroups[Int(c)].enumerated() {
                let dv = Int64(topology.firstDualVertex[i]) + Int64(k)
                for e in group {
                    let (c0, c1) = edges[e]
                    r0.append(Int64(topology.cornerRows[i * 8 + c0]))
                    r1.append(Int64(topology.cornerRows[i * 8 + c1]))
                    a0.append(Int64(i * 8 + c0))
                    a1.append(Int64(i * 8 + c1))
                    b.append(Int64(i * 12 + e))
                    d.append(dv)
                }
            }
        }
        gridRows = Int(topology.cornerRows.max() ?? -1) + 1
        let n = [r0.count]
        row0 = Tensor(int64: r0, shape: n)
        row1 = Tensor(int64: r1, shape: n)
        alpha0 = Tensor(int64: a0, shape: n)
        alpha1 = Tensor(int64: a1, shape: n)
        beta = Tensor(int64: b, shape: n)
        dual = Tensor(int64: d, shape: n)
    }

    /// Number of dual vertices.
    public var count: Int { topology.cubeOfDualVertex.count }

    /// Rest positions (c/res - 0.5) of every grid row, from the surface cubes' corners.
    public func restPositions(resolution: Int) -> [SIMD3<Float>] {
        var out = [SIMD3<Float>](repeating: .zero, count: gridRows)
        let corners = FlexiCubesTables.corners
        for (i, c) in topology.cubes.enumerated() {
            for k in 0..<8 {
                let p = SIMD3<Float>(c &+ corners[k])
                out[Int(topology.cornerRows[i * 8 + k])] = p / Float(resolution) - 0.5
            }
        }
        return out
    }

    /// sdf [N], positions [N, 3] (deformed; N ≥ `gridRows`: rows past the surface cubes'
    /// corners, which a caller's grid may hold, are not read) and raw surface-cube weights
    /// [S, 21] (beta 12, alpha 8, gamma) -> dual vertices [D, 3].
    public func callAsFunction(sdf: Tensor, positions: Tensor, surfaceWeights: Tensor) -> Tensor {
        let n = sdf.shape.first ?? 0
        precondition(
            sdf.shape == [n] && n >= gridRows && positions.shape == [n, 3],
            "FlexiCubesDualVertices: sdf \(sdf.shape) / positions \(positions.shape), expected [N] / [N, 3] with N ≥ \(gridRows)"
        )
        let s = topology.cubes.count
        precondition(
            surfaceWeights.shape == [s, 21],
            "FlexiCubesDualVertices: surfaceWeights \(surfaceWeights.shape), expected [\(s), 21]")
        let betaAll = (surfaceWeights.slice(1, 0, 12).tanh() * weightScale + 1).reshape([s * 12])
        let alphaAll = (surfaceWeights.slice(1, 12, 20).tanh() * weightScale + 1).reshape([s * 8])
        let s0 =
            sdf.indexSelect(axis: 0, index: row0) * alphaAll.indexSelect(axis: 0, index: alpha0)  // [E]
        let s1 =
            sdf.indexSelect(axis: 0, index: row1) * alphaAll.indexSelect(axis: 0, index: alpha1)  // [E]
        let p0 = positions.indexSelect(axis: 0, index: row0)  // [E, 3]
        let p1 = positions.indexSelect(axis: 0, index: row1)  // [E, 3]
        let e = s0.shape[0]
        let crossing =
            (p0 * s1.reshape([e, 1]) - p1 * s0.reshape([e, 1])) / (s1 - s0).reshape([e, 1])  // [E, 3]
        let b = betaAll.indexSelect(axis: 0, index: beta)  // [E]
        let num = Tensor(zeros: [count, 3]).scatterAdd(
            axis: 0, index: dual, source: crossing * b.reshape([e, 1]))  // [D, 3]
        let den = Tensor(zeros: [count]).scatterAdd(axis: 0, index: dual, source: b)  // [D]
        return num / den.reshape([count, 1])
    }
}

/// Per-pixel camera depth and world normal of a mesh's visible faces, differentiable in the
/// vertex positions with the visible face per pixel fixed (from a forward raster).
public struct MeshPixelGeometry {
    /// Covered pixels (row-major index into [H, W]).
    public let pixels: [Int]
    /// Visible face per covered pixel.
    public let faces: [Int32]
    public let width: Int
    public let height: Int
    let extrinsics: Matrix4
    let intrinsics: Matrix3
    let meshFaces: [SIMD3<Int32>]

    /// Rasterises `mesh` (no supersampling) to find the visible face per pixel.
    public init(mesh: TriangleMesh, extrinsics: Matrix4, intrinsics: Matrix3, size: Int) throws {
        let r = try renderMesh(
            mesh, extrinsics: extrinsics, intrinsics: intrinsics,
            settings: MeshRenderSettings(width: size, height: size, near: 0.1, far: 100, ssaa: 1),
            attributes: (values: [], channels: 0))
        var px: [Int] = []
        var fc: [Int32] = []
        for (i, f) in r.raster.triangleIds.enumerated() where f >= 0 {
            px.append(i)
            fc.append(f)
        }
        pixels = px
        faces = fc
        width = size
        height = size
        self.extrinsics = extrinsics
        self.intrinsics = intrinsics
        meshFaces = mesh.faces
    }

    /// Ray-plane depth (camera z) of each covered pixel's face [P] and its unit world normal
    /// [P, 3], from world vertex positions [V, 3].
    public func callAsFunction(vertices: Tensor) -> (depth: Tensor, normal: Tensor) {
        let p = pixels.count
        let e = extrinsics
        // [3, 3] rotation (transposed for rows · Rᵀ) and [3] translation.
        let rt = Tensor([e[0], e[4], e[8], e[1], e[5], e[9], e[2], e[6], e[10]], shape: [3, 3])
        let t = Tensor([e[3], e[7], e[11]], shape: [1, 3])
        let camera = vertices.matmul(rt) + t  // [V, 3]
        func corner(_ k: Int) -> Tensor {
            Tensor(int64: faces.map { Int64(meshFaces[Int($0)][k]) }, shape: [p])
        }
        let (i0, i1, i2) = (corner(0), corner(1), corner(2))
        func cross(_ a: Tensor, _ b: Tensor) -> Tensor {
            let (ax, ay, az) = (a.slice(1, 0, 1), a.slice(1, 1, 2), a.slice(1, 2, 3))
            let (bx, by, bz) = (b.slice(1, 0, 1), b.slice(1, 1, 2), b.slice(1, 2, 3))
            return Tensor.cat([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis: 1)
        }
        let a = camera.indexSelect(axis: 0, index: i0)  // [P, 3]
        let n = cross(
            camera.indexSelect(axis: 0, index: i1) - a, camera.indexSelect(axis: 0, index: i2) - a)  // [P, 3]
        // Pixel centre rays with unit camera z (normalised intrinsics: image size 1).
        let k = intrinsics
        var dirs = [Float](repeating: 1, count: p * 3)  // [P, 3]
        for (j, px) in pixels.enumerated() {
            let u = (Float(px % width) + 0.5) / Float(width)
            let v = (Float(px / width) + 0.5) / Float(height)
            dirs[j * 3] = (u - k[2]) / k[0]
            dirs[j * 3 + 1] = (v - k[5]) / k[4]
        }
        let d = Tensor(dirs, shape: [p, 3])
        let depth = (n * a).sum(axes: [1]) / (n * d).sum(axes: [1])  // [P]
        let w0 = vertices.indexSelect(axis: 0, index: i0)  // [P, 3]
        let nw = cross(
            vertices.indexSelect(axis: 0, index: i1) - w0,
            vertices.indexSelect(axis: 0, index: i2) - w0)  // [P, 3]
        let normal = nw / (nw.square().sum(axes: [1], keepDims: true) + 1e-20).sqrt()
        return (depth, normal)
    }
}
