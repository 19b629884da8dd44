// FlexiCubes isosurface extraction (Shen et al. 2023) on a sparse set of grid cubes, as TRELLIS
// runs it at inference (MaxtirError/FlexiCubes@815e075 flexicubes.py, the fork that also carries
// vertex colours), plus a dual marching cubes preview on dense grids built on the same core.
//
// Upstream evaluates every cube of a dense res³ grid; here only cubes touching a vertex with
// sdf < 0 are visited (all others cannot be surface cubes), with hashed coordinates. The output
// order (dual vertices, then faces) replicates upstream's torch.unique / stable-sort bookkeeping.
// The case tables (dual MC edge groups, ambiguity checks) are derived at start-up from the rule
// they encode, not transcribed; `FlexiCubesTables` documents the rule.
//
// Structure for a later backward pass: `FlexiCubes.topology` does all discrete work (surface
// cubes, cases, edge groups, quads) and `FlexiCubes.evaluate` is a pure function of vertex
// positions, sdf, weights and colours given that topology, so its adjoint can be written alone.
import Foundation
import LatticeTensor

/// The unit-cube conventions and case tables FlexiCubes uses.
///
/// Corners are numbered x-fastest: corner i sits at ((i&1), (i>>1)&1, (i>>2)&1). A case id has
/// bit i set when corner i is inside (sdf < 0). The edge groups of a case (one dual vertex per
/// group) are the connected surface patches in the cube when every ambiguous face keeps its two
/// inside corners apart; groups list edges ascending and are ordered by the sorted list of inside
/// corners they touch. The ambiguity check flags cases with exactly one ambiguous face and one
/// patch: if the cube across that face is flagged too, both use the complementary case.
public enum FlexiCubesTables {
    /// Corner offsets, x fastest.
    public static let corners: [SIMD3<Int32>] = [
        [0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1],
    ]
    /// The 12 cube edges as corner pairs, in upstream order and orientation (y edges run from
    /// the high corner to the low one).
    public static let edges: [(Int, Int)] = [
        (0, 1), (1, 5), (4, 5), (0, 4), (2, 3), (3, 7), (6, 7), (2, 6), (2, 0), (3, 1), (7, 5),
        (6, 4),
    ]
    /// Per case: the edge groups, one per dual vertex.
    public static let edgeGroups: [[[Int]]] = (0..<256).map(groups(forCase:))
    /// Per case: (flag, outward normal of its single ambiguous face, complementary case).
    public static let ambiguity: [(check: Bool, offset: SIMD3<Int32>, inverted: Int)] = (0..<256)
        .map { c in
            let faces = ambiguousFaces(c)
            guard faces.count == 1, edgeGroups[c].count == 1 else { return (false, .zero, c) }
            return (true, faceNormals[faces[0]], 255 - c)
        }

    /// The six faces as corner cycles, ordered -x, +x, -y, +y, -z, +z.
    static let faceCycles: [[Int]] = (0..<6).map { f in
        let axis = f / 2
        let side = Int32(f % 2)
        let other = (0..<3).filter { $0 != axis }
        let cs = (0..<8).filter { corners[$0][axis] == side }.sorted {
            (corners[$0][other[0]], corners[$0][other[1]])
                < (corners[$1][other[0]], corners[$1][other[1]])
        }
        return [cs[0], cs[1], cs[3], cs[2]]
    }
    static let faceNormals: [SIMD3<Int32>] = (0..<6).map { f in
        var n = SIMD3<Int32>.zero
        n[f / 2] = f % 2 == 0 ? -1 : 1
        return n
    }

    static func edgeIndex(_ a: Int, _ b: Int) -> Int {
        edges.firstIndex { ($0.0 == a && $0.1 == b) || ($0.0 == b && $0.1 == a) } ?? -1
    }

    static func ambiguousFaces(_ c: Int) -> [Int] {
        (0..<6).filter { f in
            let s = faceCycles[f].map { (c >> $0) & 1 }
            return s == [1, 0, 1, 0] || s == [0, 1, 0, 1]
        }
    }

    static func groups(forCase c: Int) -> [[Int]] {
        let inside = (0..<8).map { (c >> $0) & 1 == 1 }
        var parent = Array(0..<12)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { x = parent[x] }
            return x
        }
        func union(_ a: Int, _ b: Int) { parent[find(a)] = find(b) }
        let crossing = (0..<12).filter { inside[edges[$0].0] != inside[edges[$0].1] }
        for cycle in faceCycles {
            let faceEdges = (0..<4).map { edgeIndex(cycle[$0], cycle[($0 + 1) % 4]) }
            let cut = faceEdges.filter { crossing.contains($0) }
            if cut.count == 2 {
                union(cut[0], cut[1])
            } else if cut.count == 4 {
                // Ambiguous face: each inside corner gets its own patch corner.
                for i in 0..<4 where inside[cycle[i]] {
                    union(faceEdges[(i + 3) % 4], faceEdges[i])
                }
            }
        }
        var byRoot: [Int: [Int]] = [:]
        for e in crossing { byRoot[find(e), default: []].append(e) }
        func insideCorners(_ g: [Int]) -> [Int] {
            Array(Set(g.flatMap { [edges[$0].0, edges[$0].1] }.filter { inside[$0] })).sorted()
        }
        var result = byRoot.values.map { $0.sorted() }.sorted {
            insideCorners($0).lexicographicallyPrecedes(insideCorners($1))
        }
        // The upstream table lists case 231's two patches the other way round (by their
        // outside corner); only vertex order depends on it.
        if c == 231 { result.reverse() }
        return result
    }
}

/// Vertex and cube data on a sparse subset of a res³ grid of cubes ((res+1)³ vertices).
///
/// Vertices missing from `vertexIndex` take upstream's dense defaults: sdf +1 (outside), no
/// deformation, raw colour 0; missing cubes take raw weights 0.
public struct FlexiCubesGrid: Sendable {
    /// Cubes per axis.
    public let resolution: Int
    /// Packed vertex key `(x*(res+1) + y)*(res+1) + z` -> vertex row.
    public var vertexIndex: CoordHashMap
    /// Packed key of each vertex row.
    public var vertexKeys: [Int]
    /// Signed distance per vertex (inside < 0).
    public var sdf: [Float]
    /// (Deformed) position per vertex.
    public var positions: [SIMD3<Float>]
    /// Raw (pre-sigmoid) attribute channels per vertex.
    public var colorChannels: Int
    /// Raw colours [V, colorChannels].
    public var colors: [Float]
    /// Packed cube key `(x*res + y)*res + z` -> row of `weights`.
    public var cubeIndex: CoordHashMap
    /// Raw FlexiCubes weights [M, 21]: beta (12 edges), alpha (8 corners), gamma.
    public var weights: [Float]
    /// Cubes that exist per axis (default `resolution` on each); dense previews of non-cubic
    /// grids use less.
    public var cubeExtent: SIMD3<Int>

    /// A grid from its parts; `vertexKeys`, `sdf`, `positions` (and `colors`) share rows.
    public init(
        resolution: Int, vertexIndex: CoordHashMap, vertexKeys: [Int], sdf: [Float],
        positions: [SIMD3<Float>], colorChannels: Int = 0, colors: [Float] = [],
        cubeIndex: CoordHashMap = CoordHashMap(capacity: 0), weights: [Float] = []
    ) {
        precondition(vertexKeys.count == sdf.count && sdf.count == positions.count)
        precondition(colors.count == sdf.count * colorChannels)
        self.resolution = resolution
        self.vertexIndex = vertexIndex
        self.vertexKeys = vertexKeys
        self.sdf = sdf
        self.positions = positions
        self.colorChannels = colorChannels
        self.colors = colors
        self.cubeIndex = cubeIndex
        self.weights = weights
        self.cubeExtent = SIMD3(repeating: resolution)
    }

    /// Packed key of vertex (x, y, z).
    @inline(__always) public func vertexKey(_ x: Int, _ y: Int, _ z: Int) -> Int {
        (x * (resolution + 1) + y) * (resolution + 1) + z
    }

    /// Grid coordinates of a packed vertex key.
    @inline(__always) public func vertexCoords(_ key: Int) -> SIMD3<Int> {
        let r1 = resolution + 1
        return SIMD3(key / (r1 * r1), (key / r1) % r1, key % r1)
    }

    /// The undeformed position upstream gives a vertex: idx/res - 0.5.
    @inline(__always) public func restPosition(_ c: SIMD3<Int>) -> SIMD3<Float> {
        let r = Float(resolution)
        return SIMD3(Float(c.x) / r - 0.5, Float(c.y) / r - 0.5, Float(c.z) / r - 0.5)
    }

    /// Adds a vertex with the dense-grid defaults; returns its row.
    mutating func appendDefaultVertex(key: Int) -> Int32 {
        let row = Int32(sdf.count)
        vertexIndex.insert(key, row)
        vertexKeys.append(key)
        sdf.append(1)
        positions.append(restPosition(vertexCoords(key)))
        colors.append(contentsOf: repeatElement(0, count: colorChannels))
        return row
    }
}

/// The discrete part of an extraction: everything that does not depend on continuous values
/// except through sdf signs.
public struct FlexiCubesTopology: Sendable {
    /// Surface cube coordinates in upstream's dense order (x, then y, then z).
    public var cubes: [SIMD3<Int32>]
    /// Vertex rows of the 8 corners per surface cube [S, 8].
    public var cornerRows: [Int32]
    /// Case id per surface cube after ambiguity resolution.
    public var cases: [UInt8]
    /// Row of `FlexiCubesGrid.weights` per surface cube, or -1 (weights 0).
    public var weightRows: [Int32]
    /// First dual vertex of each surface cube.
    public var firstDualVertex: [Int32]
    /// Dual vertex per (surface cube, local edge) [S, 12], -1 where the edge has no crossing.
    public var dualVertexOfEdge: [Int32]
    /// Surface cube of each dual vertex.
    public var cubeOfDualVertex: [Int32]
    /// Quads of dual vertices [Q, 4], already in upstream's winding and order.
    public var quads: [SIMD4<Int32>]
}

/// What `FlexiCubes.extract` returns.
public struct FlexiCubesOutput: Sendable {
    /// Dual vertices.
    public var vertices: [SIMD3<Float>]
    /// Triangles.
    public var faces: [SIMD3<Int32>]
    /// Interpolated sigmoid colours [V, C].
    public var colors: [Float]
    /// Colour channels per vertex.
    public var colorChannels: Int
    /// The discrete bookkeeping that produced them.
    public var topology: FlexiCubesTopology
}

/// FlexiCubes with upstream's inference settings (quads split by the larger gamma product).
public struct FlexiCubes: Sendable {
    /// Scale of tanh/sigmoid-normalised weights (upstream `weight_scale`).
    public var weightScale: Float = 0.99

    /// FlexiCubes with upstream defaults.
    public init(weightScale: Float = 0.99) { self.weightScale = weightScale }

    /// Extracts the isosurface sdf = 0 of `grid`.
    public func extract(_ grid: FlexiCubesGrid) -> FlexiCubesOutput {
        var grid = grid
        let topo = Self.topology(&grid)
        let (v, c) = evaluate(grid, topo)
        let faces = triangulate(grid, topo)
        return FlexiCubesOutput(
            vertices: v, faces: faces, colors: c, colorChannels: grid.colorChannels,
            topology: topo)
    }

    // MARK: discrete stage

    /// Local edge index along `axis` at local offsets (b, d) of the two other axes (ascending).
    static let localEdge: [[[Int]]] = (0..<3).map { axis in
        let other = (0..<3).filter { $0 != axis }
        return (0..<2).map { lb in
            (0..<2).map { ld in
                FlexiCubesTables.edges.firstIndex { e in
                    let a = FlexiCubesTables.corners[e.0]
                    let b = FlexiCubesTables.corners[e.1]
                    return a[axis] != b[axis] && a[other[0]] == lb && b[other[0]] == lb
                        && a[other[1]] == ld && b[other[1]] == ld
                } ?? -1
            }
        }
    }

    /// Finds surface cubes, resolves cases, assigns dual vertices and builds quads. Adds
    /// default vertices to `grid` for corners of surface cubes it does not store.
    public static func topology(_ grid: inout FlexiCubesGrid) -> FlexiCubesTopology {
        let r = grid.resolution
        let ext = grid.cubeExtent
        // Only cubes with an inside corner can be surface cubes.
        var candidates: [Int] = []
        candidates.reserveCapacity(grid.sdf.count * 2)
        for (row, s) in grid.sdf.enumerated() where s < 0 {
            let v = grid.vertexCoords(grid.vertexKeys[row])
            for dx in 0..<2 {
                for dy in 0..<2 {
                    for dz in 0..<2 {
                        let c = v &- SIMD3(dx, dy, dz)
                        if c.x < 0 || c.y < 0 || c.z < 0 || c.x >= ext.x || c.y >= ext.y
                            || c.z >= ext.z
                        {
                            continue
                        }
                        candidates.append((c.x * r + c.y) * r + c.z)
                    }
                }
            }
        }
        candidates.sort()
        var unique: [Int] = []
        unique.reserveCapacity(candidates.count / 2)
        for key in candidates where unique.last != key { unique.append(key) }
        // Corner lookups are read-only and run in parallel; missing corners of surface cubes
        // are then added in candidate order, so vertex rows stay deterministic.
        var candRows = [SIMD8<Int32>](repeating: .zero, count: unique.count)
        var candBits = [UInt8](repeating: 0, count: unique.count)
        do {
            let lookup = grid.vertexIndex
            let sdf = grid.sdf
            let r1 = r + 1
            candRows.withUnsafeMutableBufferPointer { rp in
                candBits.withUnsafeMutableBufferPointer { bp in
                    Parallel.forRange(unique.count, grain: 4096) { range in
                        for j in range {
                            let key = unique[j]
                            let c = SIMD3(key / (r * r), (key / r) % r, key % r)
                            var rows = SIMD8<Int32>(repeating: -1)
                            var bits = 0
                            for k in 0..<8 {
                                let v = c &+ SIMD3(k & 1, (k >> 1) & 1, (k >> 2) & 1)
                                let row = lookup.index((v.x * r1 + v.y) * r1 + v.z)
                                rows[k] = row
                                if row >= 0, sdf[Int(row)] < 0 { bits |= 1 << k }
                            }
                            rp[j] = rows
                            bp[j] = UInt8(bits)
                        }
                    }
                }
            }
        }
        var cubes: [SIMD3<Int32>] = []
        var cornerRows: [Int32] = []
        var cases: [UInt8] = []
        for (j, key) in unique.enumerated() where candBits[j] != 0 && candBits[j] != 255 {
            let c = SIMD3(key / (r * r), (key / r) % r, key % r)
            var rows = candRows[j]
            for k in 0..<8 where rows[k] < 0 {
                let o = FlexiCubesTables.corners[k]
                rows[k] = grid.appendDefaultVertex(
                    key: grid.vertexKey(c.x + Int(o.x), c.y + Int(o.y), c.z + Int(o.z)))
            }
            cubes.append(SIMD3(Int32(c.x), Int32(c.y), Int32(c.z)))
            for k in 0..<8 { cornerRows.append(rows[k]) }
            cases.append(candBits[j])
        }
        let s = cubes.count
        var surfaceIndex = CoordHashMap(capacity: s)
        for (i, c) in cubes.enumerated() {
            surfaceIndex.insert((Int(c.x) * r + Int(c.y)) * r + Int(c.z), Int32(i))
        }
        @inline(__always) func surfaceRow(_ c: SIMD3<Int>) -> Int32 {
            if c.x < 0 || c.y < 0 || c.z < 0 || c.x >= ext.x || c.y >= ext.y || c.z >= ext.z {
                return -1
            }
            return surfaceIndex.index((c.x * r + c.y) * r + c.z)
        }

        // Ambiguity: a flagged cube whose neighbour across the ambiguous face is flagged too
        // switches to the complementary case (both read the unresolved cases).
        var resolved = cases
        for i in 0..<s {
            let a = FlexiCubesTables.ambiguity[Int(cases[i])]
            guard a.check else { continue }
            let c = SIMD3<Int>(truncatingIfNeeded: cubes[i] &+ a.offset)
            let n = surfaceRow(c)
            if n >= 0, FlexiCubesTables.ambiguity[Int(cases[Int(n)])].check {
                resolved[i] = UInt8(a.inverted)
            }
        }

        // Dual vertices are numbered by groups of cubes with 1, 2, 3, 4 of them.
        var firstDual = [Int32](repeating: 0, count: s)
        var total: Int32 = 0
        for num in 1...4 {
            for i in 0..<s where FlexiCubesTables.edgeGroups[Int(resolved[i])].count == num {
                firstDual[i] = total
                total += Int32(num)
            }
        }
        var dualOfEdge = [Int32](repeating: -1, count: s * 12)
        var cubeOfDual = [Int32](repeating: 0, count: Int(total))
        for i in 0..<s {
            for (k, group) in FlexiCubesTables.edgeGroups[Int(resolved[i])].enumerated() {
                let d = firstDual[i] + Int32(k)
                cubeOfDual[Int(d)] = Int32(i)
                for e in group { dualOfEdge[i * 12 + e] = d }
            }
        }

        var weightRows = [Int32](repeating: -1, count: s)
        for i in 0..<s {
            let c = cubes[i]
            weightRows[i] = grid.cubeIndex.index((Int(c.x) * r + Int(c.y)) * r + Int(c.z))
        }

        // Quads: one per crossing edge with 4 in-range cubes, owned by the cube whose corner 0
        // starts the edge (the largest of the four), ordered like upstream's sorted unique edges.
        let r1 = r + 1
        let vertexCount = r1 * r1 * r1
        let ownedEdge = [0, 8, 3]  // local edge at corner 0 along x, y, z
        let otherAxes = [[1, 2], [0, 2], [0, 1]]
        let localEdge = Self.localEdge
        // One slot per (cube, axis), filled in parallel, then compacted in slot order.
        var slotKey = [Int](repeating: -1, count: s * 3)
        var slotQuad = [SIMD4<Int32>](repeating: .zero, count: s * 3)
        var slotFlip = [Bool](repeating: false, count: s * 3)
        do {
            let surfaceLookup = surfaceIndex
            let keys = grid.vertexKeys
            let sdf = grid.sdf
            slotKey.withUnsafeMutableBufferPointer { kp in
                slotQuad.withUnsafeMutableBufferPointer { qp in
                    slotFlip.withUnsafeMutableBufferPointer { fp in
                        Parallel.forRange(s, grain: 2048) { range in
                            for i in range {
                                let c = SIMD3<Int>(truncatingIfNeeded: cubes[i])
                                let bits = Int(cases[i])
                                for axis in 0..<3 {
                                    let other = otherAxes[axis]
                                    let e = FlexiCubesTables.edges[ownedEdge[axis]]
                                    guard (bits >> e.0) & 1 != (bits >> e.1) & 1 else { continue }
                                    guard c[other[0]] >= 1, c[other[1]] >= 1 else { continue }
                                    var q = SIMD4<Int32>.zero
                                    var ok = true
                                    var slot = 0
                                    for ob in stride(from: 1, through: 0, by: -1) {
                                        for od in stride(from: 1, through: 0, by: -1) {
                                            var n = c
                                            n[other[0]] -= ob
                                            n[other[1]] -= od
                                            // n >= 0 and n < extent hold by construction.
                                            let row = surfaceLookup.index((n.x * r + n.y) * r + n.z)
                                            if row < 0 {
                                                ok = false
                                                continue
                                            }
                                            q[slot] =
                                                dualOfEdge[Int(row) * 12 + localEdge[axis][ob][od]]
                                            slot += 1
                                        }
                                    }
                                    // Every cube around a crossing edge is a surface cube.
                                    guard ok else { continue }
                                    let v0 = Int(cornerRows[i * 8 + e.0])
                                    let v1 = Int(cornerRows[i * 8 + e.1])
                                    kp[i * 3 + axis] = keys[v0] * vertexCount + keys[v1]
                                    qp[i * 3 + axis] = q
                                    fp[i * 3 + axis] = sdf[v0] > 0
                                }
                            }
                        }
                    }
                }
            }
        }
        var quadKeys: [Int] = []
        var quadRows: [SIMD4<Int32>] = []
        var quadFlip: [Bool] = []
        for j in 0..<(s * 3) where slotKey[j] >= 0 {
            quadKeys.append(slotKey[j])
            quadRows.append(slotQuad[j])
            quadFlip.append(slotFlip[j])
        }
        let order = quadKeys.indices.sorted { quadKeys[$0] < quadKeys[$1] }
        var quads: [SIMD4<Int32>] = []
        quads.reserveCapacity(order.count)
        for j in order where quadFlip[j] {
            let q = quadRows[j]
            quads.append(SIMD4(q[0], q[1], q[3], q[2]))
        }
        for j in order where !quadFlip[j] {
            let q = quadRows[j]
            quads.append(SIMD4(q[2], q[3], q[1], q[0]))
        }
        return FlexiCubesTopology(
            cubes: cubes, cornerRows: cornerRows, cases: resolved, weightRows: weightRows,
            firstDualVertex: firstDual, dualVertexOfEdge: dualOfEdge, cubeOfDualVertex: cubeOfDual,
            quads: quads)
    }

    // MARK: continuous stage

    /// Normalised weights per surface cube: beta [S, 12] = tanh·scale + 1, alpha [S, 8] likewise,
    /// gamma [S] = sigmoid·scale + (1 - scale)/2. Cubes without a weight row use raw 0.
    public func normalizedWeights(_ grid: FlexiCubesGrid, _ topo: FlexiCubesTopology) -> (
        beta: [Float], alpha: [Float], gamma: [Float]
    ) {
        let s = topo.cubes.count
        var beta = [Float](repeating: 0, count: s * 12)
        var alpha = [Float](repeating: 0, count: s * 8)
        var gamma = [Float](repeating: 0, count: s)
        let scale = weightScale
        beta.withUnsafeMutableBufferPointer { bp in
            alpha.withUnsafeMutableBufferPointer { ap in
                gamma.withUnsafeMutableBufferPointer { gp in
                    grid.weights.withUnsafeBufferPointer { w in
                        Parallel.forRange(s, grain: 2048) { range in
                            for i in range {
                                let row = Int(topo.weightRows[i])
                                @inline(__always) func raw(_ k: Int) -> Float {
                                    row >= 0 ? w[row * 21 + k] : 0
                                }
                                for k in 0..<12 { bp[i * 12 + k] = tanhf(raw(k)) * scale + 1 }
                                for k in 0..<8 { ap[i * 8 + k] = tanhf(raw(12 + k)) * scale + 1 }
                                gp[i] = sigmoid(raw(20)) * scale + (1 - scale) / 2
                            }
                        }
                    }
                }
            }
        }
        return (beta, alpha, gamma)
    }

    /// Dual vertex positions and colours: per group, the beta-weighted mean of the crossings
    /// interpolated with alpha-scaled sdf weights on each edge of the group.
    public func evaluate(_ grid: FlexiCubesGrid, _ topo: FlexiCubesTopology) -> (
        vertices: [SIMD3<Float>], colors: [Float]
    ) {
        let nv = topo.cubeOfDualVertex.count
        let cc = grid.colorChannels
        var verts = [SIMD3<Float>](repeating: .zero, count: nv)
        var colors = [Float](repeating: 0, count: nv * cc)
        let s = topo.cubes.count
        let (beta, alpha, _) = normalizedWeights(grid, topo)
        // Colours are activated per grid vertex before interpolation, as upstream does.
        var activated = grid.colors
        activated.withUnsafeMutableBufferPointer { a in
            Parallel.forRange(a.count, grain: 16384) { r in for i in r { a[i] = sigmoid(a[i]) } }
        }
        let groupsOfCase = FlexiCubesTables.edgeGroups
        let edges = FlexiCubesTables.edges
        verts.withUnsafeMutableBufferPointer { vp in
            colors.withUnsafeMutableBufferPointer { cp in
                Parallel.forRange(s, grain: 1024) { range in
                    var acc = [Float](repeating: 0, count: cc)
                    for i in range {
                        let groups = groupsOfCase[Int(topo.cases[i])]
                        for (k, group) in groups.enumerated() {
                            let d = Int(topo.firstDualVertex[i]) + k
                            var p = SIMD3<Float>.zero
                            var betaSum: Float = 0
                            for j in 0..<cc { acc[j] = 0 }
                            for e in group {
                                let (c0, c1) = edges[e]
                                let v0 = Int(topo.cornerRows[i * 8 + c0])
                                let v1 = Int(topo.cornerRows[i * 8 + c1])
                                let w0 = grid.sdf[v0] * alpha[i * 8 + c0]
                                let w1 = grid.sdf[v1] * alpha[i * 8 + c1]
                                let den = w1 + (-w0)
                                let ue =
                                    (grid.positions[v0] * w1 + grid.positions[v1] * (-w0)) / den
                                let b = beta[i * 12 + e]
                                p += ue * b
                                betaSum += b
                                for j in 0..<cc {
                                    let x0 = activated[v0 * cc + j]
                                    let x1 = activated[v1 * cc + j]
                                    acc[j] += (x0 * w1 + x1 * (-w0)) / den * b
                                }
                            }
                            vp[d] = p / betaSum
                            for j in 0..<cc { cp[d * cc + j] = acc[j] / betaSum }
                        }
                    }
                }
            }
        }
        return (verts, colors)
    }

    /// Splits each quad along the diagonal whose dual vertices have the larger gamma product.
    public func triangulate(_ grid: FlexiCubesGrid, _ topo: FlexiCubesTopology) -> [SIMD3<Int32>] {
        let gammaOfCube = normalizedWeights(grid, topo).gamma
        var faces: [SIMD3<Int32>] = []
        faces.reserveCapacity(topo.quads.count * 2)
        for q in topo.quads {
            let g = SIMD4<Float>(
                gammaOfCube[Int(topo.cubeOfDualVertex[Int(q[0])])],
                gammaOfCube[Int(topo.cubeOfDualVertex[Int(q[1])])],
                gammaOfCube[Int(topo.cubeOfDualVertex[Int(q[2])])],
                gammaOfCube[Int(topo.cubeOfDualVertex[Int(q[3])])])
            if g[0] * g[2] > g[1] * g[3] {
                faces.append(SIMD3(q[0], q[1], q[2]))
                faces.append(SIMD3(q[0], q[2], q[3]))
            } else {
                faces.append(SIMD3(q[0], q[1], q[3]))
                faces.append(SIMD3(q[3], q[1], q[2]))
            }
        }
        return faces
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

// MARK: dense preview

/// Dual marching cubes on a dense scalar grid, for quick previews (e.g. 64³ occupancy logits).
///
/// `values` is [nx, ny, nz] row-major (z fastest) sampled at grid points; the surface is
/// `values == isoLevel` with the inside where `values > isoLevel` (occupancy convention).
/// Vertices are placed by linear interpolation on crossing edges and averaged per dual cell,
/// mapped to `origin + index * spacing`. Grid points are treated as the vertices of a cube grid.
public func marchingCubes(
    values: [Float], dims: SIMD3<Int>, isoLevel: Float = 0,
    origin: SIMD3<Float> = .zero, spacing: SIMD3<Float> = .one
) throws -> TriangleMesh {
    guard dims.x >= 2, dims.y >= 2, dims.z >= 2, values.count == dims.x * dims.y * dims.z else {
        throw LatticeError(
            .shapeMismatch,
            "marchingCubes: \(values.count) values for dims \(dims) (need at least 2 per axis)")
    }
    // Embed into a cube grid of resolution max(dims)-1; cells outside dims never have inside
    // corners because absent vertices default to outside.
    let r = max(dims.x, dims.y, dims.z) - 1
    var index = CoordHashMap(capacity: values.count / 4)
    var keys: [Int] = []
    var sdf: [Float] = []
    var pos: [SIMD3<Float>] = []
    func add(_ x: Int, _ y: Int, _ z: Int) {
        let key = (x * (r + 1) + y) * (r + 1) + z
        if index.get(key) != nil { return }
        index.insert(key, Int32(keys.count))
        keys.append(key)
        sdf.append(isoLevel - values[(x * dims.y + y) * dims.z + z])
        pos.append(origin + SIMD3(Float(x), Float(y), Float(z)) * spacing)
    }
    // Only vertices of cubes that touch an inside point matter.
    for x in 0..<dims.x {
        for y in 0..<dims.y {
            for z in 0..<dims.z where values[(x * dims.y + y) * dims.z + z] > isoLevel {
                for dx in -1...1 {
                    for dy in -1...1 {
                        for dz in -1...1 {
                            let a = x + dx
                            let b = y + dy
                            let c = z + dz
                            if a >= 0, b >= 0, c >= 0, a < dims.x, b < dims.y, c < dims.z {
                                add(a, b, c)
                            }
                        }
                    }
                }
            }
        }
    }
    var grid = FlexiCubesGrid(
        resolution: r, vertexIndex: index, vertexKeys: keys, sdf: sdf, positions: pos)
    grid.cubeExtent = dims &- 1
    // Zero raw weights give beta = alpha = 1: plain linear crossings and a plain mean per cell.
    let out = FlexiCubes().extract(grid)
    return TriangleMesh(vertices: out.vertices, faces: out.faces)
}
