// TRELLIS's mesh extraction from the mesh decoder's sparse per-cube features: follows
// microsoft/TRELLIS@6b0d647 trellis/representations/mesh/cube2mesh.py (SparseFeatures2Mesh,
// MeshExtractResult) and utils_cube.py, at inference (training=False). Upstream scatters into
// dense (res+1)³ and res³ grids; here everything stays on the sparse set (see FlexiCubes.swift).
import Foundation
import LatticeTensor

/// One extracted mesh, with the attribute channels and face normals TRELLIS keeps.
public struct MeshExtractResult: Sendable {
    /// Vertex positions in [-0.5, 0.5]³ (Z-up).
    public var vertices: [SIMD3<Float>]
    /// Triangles (outward winding: towards positive sdf).
    public var faces: [SIMD3<Int32>]
    /// Per-vertex attributes [V, attributeChannels]: RGB then normal-map RGB, sigmoid-activated.
    public var vertexAttributes: [Float]
    /// 6 with colour, 0 without.
    public var attributeChannels: Int
    /// Unit normal per face, normalize(cross(v1 - v0, v2 - v0)).
    public var faceNormals: [SIMD3<Float>]
    /// The extraction grid resolution.
    public var resolution: Int
    /// Upstream's `success`: at least one vertex and one face.
    public var success: Bool { !vertices.isEmpty && !faces.isEmpty }
    /// Grid vertices of the input cubes, sorted (x, y, z): utils_cube `sparse_cube2verts`.
    public var cubeVertexCoords: [SIMD3<Int32>]
    /// Per grid vertex mean of [sdf + bias, deform(3), colour(6)] [V', 4 or 10].
    public var cubeVertexAttributes: [Float]
    /// The FlexiCubes bookkeeping (surface cubes, quads) for inspection or a backward pass.
    public var topology: FlexiCubesTopology

    /// The shared mesh type: positions, faces and (with colour) RGB vertex colours.
    public var mesh: TriangleMesh {
        var colors: [SIMD3<Float>]? = nil
        if attributeChannels >= 3 {
            let c = attributeChannels
            colors = (0..<vertices.count).map {
                SIMD3(
                    vertexAttributes[$0 * c], vertexAttributes[$0 * c + 1],
                    vertexAttributes[$0 * c + 2])
            }
        }
        return TriangleMesh(vertices: vertices, faces: faces, vertexColors: colors)
    }
}

/// Turns the mesh decoder's per-cube features into meshes with FlexiCubes.
///
/// Feature layout per cube (upstream `_calc_layout`): sdf [0:8] (one per corner), deform
/// [8:32] (8×3), weights [32:53] (12 beta, 8 alpha, 1 gamma), colour [53:101] (8×6) when
/// `useColor`. Corners are x-fastest ([0,0,0], [1,0,0], [0,1,0], ...).
public struct SparseFeatures2Mesh: Sendable {
    /// Grid resolution of the input coordinates (256 for the released decoder).
    public let resolution: Int
    /// Whether features carry 8×6 colour channels.
    public let useColor: Bool
    /// The FlexiCubes settings (upstream defaults).
    public var flexiCubes = FlexiCubes()

    /// An extractor for features at `resolution` (upstream default 64; TRELLIS uses 256).
    public init(resolution: Int = 64, useColor: Bool = true) {
        self.resolution = resolution
        self.useColor = useColor
    }

    /// Channels per cube the features must have: 101 with colour, 53 without.
    public var featureChannels: Int { useColor ? 101 : 53 }
    /// Added to every sdf before extraction (upstream `sdf_bias`).
    public var sdfBias: Float { -1 / Float(resolution) }

    /// Extracts one mesh per batch item from sparse `coords` [N, 4] int32 (b, x, y, z) and
    /// `feats` [N, featureChannels]. Items are 0...max(b); an item without rows gives an
    /// empty mesh. `feats` is not modified (upstream biases it in place).
    public func callAsFunction(coords: Tensor, feats: Tensor) throws -> [MeshExtractResult] {
        guard coords.rank == 2, coords.shape[1] == 4 else {
            throw LatticeError(
                .shapeMismatch, "SparseFeatures2Mesh: coords must be [N, 4], got \(coords.shape)")
        }
        guard feats.rank == 2, feats.shape[0] == coords.shape[0],
            feats.shape[1] == featureChannels
        else {
            throw LatticeError(
                .shapeMismatch,
                "SparseFeatures2Mesh: feats must be [\(coords.shape[0]), \(featureChannels)] "
                    + "(useColor \(useColor)), got \(feats.shape)")
        }
        let c = coords.toInts()  // [N, 4]
        let f = feats.toFloats()  // [N, C]
        let n = coords.shape[0]
        let items = (0..<n).map { c[$0 * 4] }.max().map { $0 + 1 } ?? 0
        var rowsOf = [[Int]](repeating: [], count: items)
        for i in 0..<n {
            guard c[i * 4] >= 0 else {
                throw LatticeError(
                    .invalidArgument, "SparseFeatures2Mesh: negative batch index in row \(i)")
            }
            rowsOf[c[i * 4]].append(i)
        }
        let ch = featureChannels
        return try rowsOf.map { rows in
            let xyz = rows.map {
                SIMD3(Int32(c[$0 * 4 + 1]), Int32(c[$0 * 4 + 2]), Int32(c[$0 * 4 + 3]))
            }
            var fi = [Float](repeating: 0, count: rows.count * ch)
            for (k, r) in rows.enumerated() {
                for j in 0..<ch { fi[k * ch + j] = f[r * ch + j] }
            }
            return try extract(coords: xyz, features: fi)
        }
    }

    /// Extracts the mesh of one batch item: cube coords [N] and features [N, featureChannels].
    public func extract(coords: [SIMD3<Int32>], features: [Float]) throws -> MeshExtractResult {
        let n = coords.count
        let ch = featureChannels
        let r = resolution
        guard features.count == n * ch else {
            throw LatticeError(
                .shapeMismatch,
                "SparseFeatures2Mesh: \(features.count) feature values for \(n) cubes × \(ch)")
        }
        for (i, c) in coords.enumerated()
        where c.x < 0 || c.y < 0 || c.z < 0 || Int(c.max()) >= r {
            throw LatticeError(
                .invalidArgument,
                "SparseFeatures2Mesh: cube \(i) at \(c) is outside the \(r)³ grid")
        }
        let r1 = r + 1
        let corners = FlexiCubesTables.corners
        // sparse_cube2verts: unique corner vertices (sorted like torch.unique) and the mean of
        // each attribute over the cubes sharing a vertex.
        var cornerKeys = [Int](repeating: 0, count: n * 8)  // [N, 8]
        for i in 0..<n {
            for k in 0..<8 {
                let v = SIMD3<Int>(truncatingIfNeeded: coords[i] &+ corners[k])
                cornerKeys[i * 8 + k] = (v.x * r1 + v.y) * r1 + v.z
            }
        }
        var keys = cornerKeys
        keys.sort()
        var unique: [Int] = []
        unique.reserveCapacity(keys.count / 2)
        for k in keys where unique.last != k { unique.append(k) }
        let nv = unique.count
        var vertexIndex = CoordHashMap(capacity: nv)
        for (i, k) in unique.enumerated() { vertexIndex.insert(k, Int32(i)) }

        let colorCh = useColor ? 6 : 0
        let attrCh = 4 + colorCh
        var sums = [Float](repeating: 0, count: nv * attrCh)  // [V, 4 + 6]
        var counts = [Float](repeating: 0, count: nv)
        let bias = sdfBias
        for i in 0..<n {
            let row = i * ch
            for k in 0..<8 {
                let v = Int(vertexIndex.index(cornerKeys[i * 8 + k]))
                counts[v] += 1
                sums[v * attrCh] += features[row + k] + bias
                for d in 0..<3 { sums[v * attrCh + 1 + d] += features[row + 8 + k * 3 + d] }
                for j in 0..<colorCh { sums[v * attrCh + 4 + j] += features[row + 53 + k * 6 + j] }
            }
        }
        for v in 0..<nv {
            for j in 0..<attrCh { sums[v * attrCh + j] /= counts[v] }
        }

        // Deformed positions: idx/res - 0.5 + (1 - 1e-8)/(2 res) * tanh(deform); 1 - 1e-8 is
        // 1.0 in float32, as upstream computes it.
        let deformScale = Float(1 - 1e-8) / Float(2 * r)
        var sdf = [Float](repeating: 0, count: nv)
        var positions = [SIMD3<Float>](repeating: .zero, count: nv)
        var colors = [Float](repeating: 0, count: nv * colorCh)
        var vertexCoords = [SIMD3<Int32>](repeating: .zero, count: nv)
        let rf = Float(r)
        for v in 0..<nv {
            let key = unique[v]
            let c = SIMD3(key / (r1 * r1), (key / r1) % r1, key % r1)
            vertexCoords[v] = SIMD3<Int32>(truncatingIfNeeded: c)
            sdf[v] = sums[v * attrCh]
            var p = SIMD3<Float>.zero
            for d in 0..<3 {
                p[d] = (Float(c[d]) / rf - 0.5) + deformScale * tanhf(sums[v * attrCh + 1 + d])
            }
            positions[v] = p
            for j in 0..<colorCh { colors[v * colorCh + j] = sums[v * attrCh + 4 + j] }
        }

        var cubeIndex = CoordHashMap(capacity: n)
        var weights = [Float](repeating: 0, count: n * 21)  // [N, 21]
        for i in 0..<n {
            let c = SIMD3<Int>(truncatingIfNeeded: coords[i])
            // Duplicate coords: upstream's dense scatter keeps one row; keep the last like it
            // typically does on CPU.
            let key = (c.x * r + c.y) * r + c.z
            if let old = cubeIndex.get(key) {
                for j in 0..<21 { weights[Int(old) * 21 + j] = features[i * ch + 32 + j] }
                continue
            }
            cubeIndex.insert(key, Int32(i))
            for j in 0..<21 { weights[i * 21 + j] = features[i * ch + 32 + j] }
        }

        let grid = FlexiCubesGrid(
            resolution: r, vertexIndex: vertexIndex, vertexKeys: unique, sdf: sdf,
            positions: positions, colorChannels: colorCh, colors: colors, cubeIndex: cubeIndex,
            weights: weights)
        let out = flexiCubes.extract(grid)
        return MeshExtractResult(
            vertices: out.vertices, faces: out.faces, vertexAttributes: out.colors,
            attributeChannels: colorCh,
            faceNormals: faceNormals(vertices: out.vertices, faces: out.faces),
            resolution: r, cubeVertexCoords: vertexCoords, cubeVertexAttributes: sums,
            topology: out.topology)
    }
}
