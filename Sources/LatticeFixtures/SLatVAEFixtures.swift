// Fixture handlers for the SLat VAE ports (`slat_vae__*`): the encoder, the Gaussian and
// radiance-field decoders with their representations (and the Gaussian PLY bytes), the mesh
// decoder's network, and SparseSubdivideBlock3d. Each builds its module from the case's config.
import Foundation
import LatticeIO
import LatticeModels
import LatticeRender

/// Handlers of the `slat_vae__*` cases.
public enum SLatVAEFixtures {
    /// Decodes the case config as `T` from its constructor arguments (`keys`); the cases also
    /// hold keys describing the generated data (`counts`, `radius_frac`, ...).
    static func config<T: Decodable>(_ f: Fixture, _ type: T.Type, keys: [String]) throws -> T {
        guard case .object(let members) = f.configJSON else {
            throw LatticeError(.invalidConfig, "\(f.url.path): config is not a JSON object")
        }
        let kept = JSONValue.object(members.filter { keys.contains($0.0) })
        do {
            return try JSONDecoder().decode(T.self, from: Data(kept.serialized().utf8))
        } catch let e as LatticeError {
            throw LatticeError(e.kind, "\(f.url.path): \(e.message)")
        }
    }

    static func input(_ f: Fixture) throws -> SparseTensor {
        try SparseTensor(coords: f.input("coords"), feats: f.input("feats"))
    }

    /// `SLatEncoder(..., sample_posterior=False, return_raw=True)`: z (= mean), mean, logvar.
    @Sendable public static func encoder(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = try SLatEncoder(
            try config(f, SLatEncoder.Config.self, keys: SLatEncoder.Config.argumentKeys))
        try model.load(f.params, source: f.url.path)
        let (mean, logvar) = try withNoGrad { try model(try input(f)) }
        return ["z": mean.feats, "mean": mean.feats, "logvar": logvar.feats]
    }

    /// `SLatGaussianDecoder`: raw out_layer feats, every Gaussian's stored and activated
    /// tensors, and the `save_ply` bytes (header exact, payload within the float tolerance).
    @Sendable public static func gaussianDecoder(_ f: Fixture) throws -> [String: any FixtureValue]
    {
        let model = try SLatGaussianDecoder(
            try config(
                f, SLatGaussianDecoder.Config.self, keys: SLatGaussianDecoder.Config.argumentKeys))
        try model.load(f.params, source: f.url.path)
        return try withNoGrad {
            let raw = try model.network(try input(f))
            var out: [String: any FixtureValue] = ["raw_feats": raw.feats]
            for (b, g) in try model.toRepresentation(raw).enumerated() {
                let p = "gaussians.\(b)."
                out[p + "_xyz"] = g.xyz
                out[p + "_features_dc"] = g.featuresDC
                out[p + "_scaling"] = g.scaling
                out[p + "_rotation"] = g.rotation
                out[p + "_opacity"] = g.opacity
                out[p + "get_xyz"] = g.getXYZ
                out[p + "get_features"] = g.getFeatures
                out[p + "get_scaling"] = g.getScaling
                out[p + "get_rotation"] = g.getRotation
                out[p + "get_opacity"] = g.getOpacity
                let bytes = [UInt8](try g.plyData().encoded())
                out[p + "ply_bytes"] = DoubleTensor(bytes.map(Double.init), shape: [bytes.count])
            }
            return out
        }
    }

    /// `SLatRadianceFieldDecoder`: raw out_layer feats and each Strivec's fields.
    @Sendable public static func radianceFieldDecoder(_ f: Fixture) throws -> [String:
        any FixtureValue]
    {
        let model = try SLatRadianceFieldDecoder(
            try config(
                f, SLatRadianceFieldDecoder.Config.self,
                keys: SLatRadianceFieldDecoder.Config.argumentKeys))
        try model.load(f.params, source: f.url.path)
        return try withNoGrad {
            let raw = try model.network(try input(f))
            var out: [String: any FixtureValue] = ["raw_feats": raw.feats]
            for (b, s) in try model.toRepresentation(raw).enumerated() {
                let p = "strivec.\(b)."
                out[p + "position"] = s.position
                out[p + "depth"] = s.depth
                out[p + "trivec"] = s.trivec
                out[p + "density"] = s.density
                out[p + "features_dc"] = s.featuresDC
            }
            return out
        }
    }

    /// The network half of `SLatMeshDecoder` (built with the case's `subdivide_num_groups`):
    /// raw FlexiCubes feats before the extractor's in-place sdf bias, the intermediates and the
    /// output coords. The `mesh.*` outputs need the SparseFeatures2Mesh port; a handler that has
    /// it can call this and add them from `feats`.
    public static func meshDecoderNetwork(_ f: Fixture) throws -> (
        outputs: [String: any FixtureValue], feats: SparseTensor, meshResolution: Int
    ) {
        let groups = f.configJSON["subdivide_num_groups"]?.doubleValue.map { Int($0) } ?? 32
        let model = try SLatMeshDecoder(
            try config(f, SLatMeshDecoder.Config.self, keys: SLatMeshDecoder.Config.argumentKeys),
            subdivideNumGroups: groups)
        try model.load(f.params, source: f.url.path)
        let (y, inter) = try withNoGrad { try model.forward(try input(f)) }
        var out: [String: any FixtureValue] = ["raw_feats": y.feats, "out_coords": y.coords]
        if let t = inter.trunk { out["inter.trunk"] = t.feats }
        for (i, u) in inter.upsample.enumerated() { out["inter.upsample.\(i)"] = u.feats }
        return (out, y, model.meshResolution)
    }

    /// `SLatMeshDecoder` and `SparseFeatures2Mesh`: network outputs plus `mesh.<b>.*`.
    @Sendable public static func meshDecoder(_ f: Fixture) throws -> [String: any FixtureValue] {
        let (outputs, feats, _) = try meshDecoderNetwork(f)
        let meshes = try MeshFixtures.extractor(f)(coords: feats.coords, feats: feats.feats)
        return outputs.merging(MeshFixtures.outputs(meshes)) { a, _ in a }
    }

    /// `SparseSubdivideBlock3d(channels, resolution, out_channels, num_groups)`.
    @Sendable public static func subdivideBlock(_ f: Fixture) throws -> [String: any FixtureValue] {
        func int(_ key: String) throws -> Int {
            guard let v = f.configJSON[key]?.doubleValue else {
                throw LatticeError(.invalidConfig, "\(f.url.path): config has no integer '\(key)'")
            }
            return Int(v)
        }
        let block = try TRELLIS.SparseSubdivideBlock3d(
            channels: try int("channels"), resolution: try int("resolution"),
            outChannels: try int("out_channels"), numGroups: try int("num_groups"))
        try block.load(f.params, source: f.url.path)
        let y = try withNoGrad { try block(try input(f)) }
        return ["feats": y.feats, "coords": y.coords]
    }
}
