// Fixture handlers for the sparse engine: submanifold convs (k1 with quirk Q1, k3), sparse
// down/upsample and subdivide, and SparseMultiHeadAttention (full, swin, cross).
import LatticeModels
import LatticeTensor

/// Handlers for `sparse_conv__*`, `sparse_spatial__*` and `sparse_attn__*`.
public enum SparseFixtures {
    /// The fixture's sparse input (`input.coords`, `input.feats`).
    static func input(_ f: Fixture) throws -> SparseTensor {
        try SparseTensor(coords: f.input("coords"), feats: f.input("feats"))
    }

    static func intConfig(_ f: Fixture, _ key: String) throws -> Int {
        guard let v = f.configJSON[key]?.doubleValue else {
            throw LatticeError(.invalidConfig, "\(f.url.path): config has no integer '\(key)'")
        }
        return Int(v)
    }

    /// `SparseConv3d(in, out, k)` with stride 1 (spconv SubMConv3d).
    @Sendable public static func conv(_ f: Fixture) throws -> [String: any FixtureValue] {
        let x = try input(f)
        let k = try intConfig(f, "kernel_size")
        let m = SparseConv3d(
            try intConfig(f, "in_channels"), try intConfig(f, "out_channels"), kernel: k)
        try m.load(f.params, source: f.url.path)
        let y = try withNoGrad { try m(x) }
        return ["feats": y.feats, "coords": y.coords]
    }

    /// `SparseDownsample(2)` then `SparseUpsample(2)`, and the upsample of replaced coarse feats.
    @Sendable public static func downUp(_ f: Fixture) throws -> [String: any FixtureValue] {
        let x = try input(f)
        return try withNoGrad {
            let down = sparseDownsample(x, factor: 2)
            let up = try sparseUpsample(down, factor: 2)
            let upNew = try sparseUpsample(
                down.replacing(feats: try f.input("coarse_feats_new")), factor: 2)
            guard let parentIndex = down.downsampleParentIndex(factor: 2) else {
                throw LatticeError(.invalidArgument, "downsample left no upsample pairing")
            }
            return [
                "down.feats": down.feats, "down.coords": down.coords,
                "down.parent_index": parentIndex, "up.feats": up.feats,
                "up.coords": up.coords, "up_new.feats": upNew.feats,
            ]
        }
    }

    /// `SparseSubdivide()`.
    @Sendable public static func subdivide(_ f: Fixture) throws -> [String: any FixtureValue] {
        let y = try withNoGrad { try sparseSubdivide(try input(f)) }
        return ["feats": y.feats, "coords": y.coords]
    }

    /// `SparseMultiHeadAttention` (self full / windowed with qk RMS norm, or cross to a dense
    /// context), plus the window partition for windowed cases.
    @Sendable public static func attention(_ f: Fixture) throws -> [String: any FixtureValue] {
        let x = try input(f)
        let c = try intConfig(f, "channels")
        let heads = try intConfig(f, "num_heads")
        let cross = f.configJSON["type"]?.stringValue == "cross"
        let windowed = f.configJSON["attn_mode"]?.stringValue == "windowed"
        var mode = SparseAttentionMode.full
        if windowed {
            mode = .windowed(
                size: try intConfig(f, "window_size"), shift: try intConfig(f, "shift_window"))
        }
        var qkNorm = false
        if case .bool(let b) = f.configJSON["qk_rms_norm"] { qkNorm = b }
        let m = SparseMultiHeadAttention(
            channels: c, heads: heads,
            contextChannels: cross ? try intConfig(f, "ctx_channels") : nil,
            kind: cross ? .cross : .selfAttention, mode: mode, qkRMSNorm: qkNorm)
        try m.load(f.params, source: f.url.path)
        let y = try withNoGrad { cross ? try m(x, context: try f.input("context")) : try m(x) }
        var out: [String: any FixtureValue] = ["feats": y.feats]
        if case .windowed(let size, let shift) = mode {
            let p = x.windowPartition(windowSize: size, shift: shift)
            out["window_ordinal"] = Tensor(int32: p.windowOrdinal, shape: [x.count])
            out["window_seq_lens"] = Tensor(
                int32: p.seqLens.map { Int32($0) }, shape: [p.seqLens.count])
        }
        return out
    }
}
