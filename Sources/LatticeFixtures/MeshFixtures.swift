// Fixture outputs of TRELLIS mesh extraction (SparseFeatures2Mesh + FlexiCubes), for the
// `slat_vae__mesh_decoder_*` handler that runs the decoder network first and then calls these.
import LatticeGeometry
import LatticeTensor

/// Helpers turning extracted meshes into the `mesh.<b>.*` outputs of the mesh-decoder cases.
public enum MeshFixtures {
    /// The extractor for a mesh-decoder case: resolution 4 × config `resolution` (two
    /// subdivisions), colour from `representation_config.use_color` (default true).
    public static func extractor(_ f: Fixture) throws -> SparseFeatures2Mesh {
        guard let r = f.configJSON["resolution"]?.doubleValue else {
            throw LatticeError(.invalidConfig, "\(f.url.path): config has no 'resolution'")
        }
        var useColor = true
        if case .bool(let b)? = f.configJSON["representation_config"]?["use_color"] {
            useColor = b
        }
        return SparseFeatures2Mesh(resolution: 4 * Int(r), useColor: useColor)
    }

    /// `mesh.<b>.{vertices, faces, vertex_attrs, face_normal, cube_verts_coords,
    /// cube_verts_attrs}` for each batch item, in upstream order (keys without `output.`).
    public static func outputs(_ results: [MeshExtractResult]) -> [String: any FixtureValue] {
        var out: [String: any FixtureValue] = [:]
        for (b, r) in results.enumerated() {
            let p = "mesh.\(b)."
            let nv = r.vertices.count
            out[p + "vertices"] = Tensor(
                r.vertices.flatMap { [$0.x, $0.y, $0.z] }, shape: [nv, 3])
            out[p + "faces"] = Tensor(
                int32: r.faces.flatMap { [$0.x, $0.y, $0.z] }, shape: [r.faces.count, 3])
            out[p + "vertex_attrs"] = Tensor(r.vertexAttributes, shape: [nv, r.attributeChannels])
            out[p + "face_normal"] = Tensor(
                r.faceNormals.flatMap { [$0.x, $0.y, $0.z] }, shape: [r.faces.count, 3])
            let nc = r.cubeVertexCoords.count
            out[p + "cube_verts_coords"] = Tensor(
                int32: r.cubeVertexCoords.flatMap { [$0.x, $0.y, $0.z] }, shape: [nc, 3])
            out[p + "cube_verts_attrs"] = Tensor(
                r.cubeVertexAttributes, shape: [nc, r.cubeVertexAttributes.count / max(nc, 1)])
        }
        return out
    }
}
