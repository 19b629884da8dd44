// Fixture handlers for the SLat flow ports: SparseResBlock3d (plain, downsample, upsample),
// ModulatedSparseTransformerCrossBlock and SLatFlowModel (fp32 and as-released fp16), each built
// from the case's `config`.
import Foundation
import LatticeModels
import LatticeTensor

/// Handlers for `slat_flow__*`.
public enum SLatFlowFixtures {
    static func bool(_ f: Fixture, _ key: String, default value: Bool = false) -> Bool {
        if case .bool(let b) = f.configJSON[key] { return b }
        return value
    }

    /// `SparseResBlock3d(channels, emb_channels, out_channels, downsample|upsample)(x, emb)`.
    /// For upsample cases the input carries the cache of `SparseDownsample(2)` on
    /// `input.fine_coords`, with its feats replaced by `input.coarse_feats`.
    @Sendable public static func resBlock(_ f: Fixture) throws -> [String: any FixtureValue] {
        let c = try SparseFixtures.intConfig(f, "channels")
        let up = bool(f, "upsample")
        let out = f.configJSON["out_channels"]?.doubleValue.map { Int($0) }
        let block = try SparseResBlock3d(
            channels: c, embChannels: try SparseFixtures.intConfig(f, "emb_channels"),
            outChannels: out, downsample: bool(f, "downsample"), upsample: up)
        try block.load(f.params, source: f.url.path)
        let emb = try f.input("emb")
        return try withNoGrad {
            var x: SparseTensor
            if up {
                let fine = try f.input("fine_coords")
                let tmp = sparseDownsample(
                    try SparseTensor(coords: fine, feats: Tensor(zeros: [fine.shape[0], 1])),
                    factor: 2)
                let expected = try f.input("coarse_coords")
                guard tmp.coords.toInts() == expected.toInts() else {
                    throw LatticeError(
                        .invalidArgument,
                        "\(f.url.path): SparseDownsample(2) of input.fine_coords does not give "
                            + "input.coarse_coords")
                }
                x = tmp.replacing(feats: try f.input("coarse_feats"))
            } else {
                x = try SparseFixtures.input(f)
            }
            let y = try block(x, emb: emb)
            return ["feats": y.feats, "coords": y.coords]
        }
    }

    /// `ModulatedSparseTransformerCrossBlock(channels, ctx_channels, num_heads, ...)(x, mod, context)`.
    @Sendable public static func crossBlock(_ f: Fixture) throws -> [String: any FixtureValue] {
        let block = ModulatedSparseTransformerCrossBlock(
            channels: try SparseFixtures.intConfig(f, "channels"),
            contextChannels: try SparseFixtures.intConfig(f, "ctx_channels"),
            numHeads: try SparseFixtures.intConfig(f, "num_heads"),
            mlpRatio: f.configJSON["mlp_ratio"]?.doubleValue ?? 4,
            qkRMSNorm: bool(f, "qk_rms_norm"), qkRMSNormCross: bool(f, "qk_rms_norm_cross"),
            shareMod: bool(f, "share_mod"))
        try block.load(f.params, source: f.url.path)
        let x = try SparseFixtures.input(f)
        let y = try withNoGrad {
            try block(x, mod: try f.input("mod"), context: try f.input("context"))
        }
        return ["feats": y.feats, "coords": y.coords]
    }

    /// `SLatFlowModel(**config)(x, t, cond)`: `feats`, `coords`, and the forward-hook captures
    /// `inter.<module>.{feats,coords}` and `inter.t_emb`. With `use_fp16` the torso weights are
    /// cast back to float16 after loading (the file stores them as exact float32 values).
    @Sendable public static func model(_ f: Fixture) throws -> [String: any FixtureValue] {
        guard case .object(let members) = f.configJSON else {
            throw LatticeError(.invalidConfig, "\(f.url.path): config is not an object")
        }
        // The case config also describes the inputs (`counts`, `t_unit`, `cond_len`); only the
        // constructor arguments go to the (strict) model config.
        let json = JSONValue.object(
            members.filter { SLatFlowModel.Config.fieldNames.contains($0.0) })
        let config: SLatFlowModel.Config
        do {
            config = try JSONDecoder().decode(
                SLatFlowModel.Config.self, from: Data(json.serialized().utf8))
        } catch {
            throw LatticeError(.invalidConfig, "\(f.url.path): \(error)")
        }
        let model = try SLatFlowModel(config)
        try model.load(f.params, source: f.url.path)
        if config.useFp16 { model.convertToFp16() }
        let x = try SparseFixtures.input(f)
        let t = try f.input("t")
        var out: [String: any FixtureValue] = [:]
        try withNoGrad {
            let y = try model(x, t: t, cond: try f.input("cond")) { name, h in
                out["inter.\(name).feats"] = h.feats
                out["inter.\(name).coords"] = h.coords
            }
            out["feats"] = y.feats
            out["coords"] = y.coords
            out["inter.t_emb"] = model.tEmbedder(t)
        }
        return out
    }
}
