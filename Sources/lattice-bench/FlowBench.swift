// One forward of each TRELLIS-image-large flow model at released size with random weights, fp32:
// the SS flow on its 4096 dense tokens and the SLat flow on ~20,000 voxels of a 64³ surface,
// against the upstream PyTorch CPU numbers in ../shared/perf/upstream-trellis-cpu.md.
import Foundation
import LatticeModels
import LatticeSparse
import LatticeTensor

enum FlowBench {
    /// Runs `body` once: wall seconds and peak tensor storage above what was live before.
    static func timedOnce(_ body: () throws -> Void) throws -> (seconds: Double, extraBytes: Int) {
        var failure: Error?
        let t0 = DispatchTime.now().uptimeNanoseconds
        let extra = Timing.peakExtraBytes {
            do { try body() } catch { failure = error }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        if let failure { throw failure }
        return (seconds, extra)
    }

    /// `ss_flow_img_dit_L_16l8` in fp32: x [1,8,16,16,16], t [500], cond [1,1374,1024].
    static func ssFlow() throws -> [BenchResult] {
        let json = """
            {"resolution": 16, "in_channels": 8, "out_channels": 8, "model_channels": 1024,
             "cond_channels": 1024, "num_blocks": 24, "num_heads": 16, "mlp_ratio": 4,
             "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true, "use_fp16": false}
            """
        let config = try JSONDecoder().decode(
            SparseStructureFlowModel.Config.self, from: Data(json.utf8))
        let model = try SparseStructureFlowModel(config)
        ModelsBench.randomize(model, seed: 21)
        var gen = RandomGenerator(seed: 22)
        let x = Tensor.randn([1, 8, 16, 16, 16], generator: &gen)  // [B, 8, R, R, R]
        let cond = Tensor.randn([1, 1374, 1024], generator: &gen)  // [B, L, Cc]
        let t = Tensor([500], shape: [1])
        let run = try withNoGrad { try timedOnce { _ = model(x, t: t, cond: cond) } }
        return [
            BenchResult(
                name: "ss-flow-step", value: run.seconds * 1e3, unit: "ms",
                baseline:
                    "upstream PyTorch 2.15 CPU fp32 (upstream-trellis-cpu.md); target <= 21 s",
                baselineValue: 32_339,
                notes: String(format: "%.0f GFLOP/s (5227 GFLOP), one run", 5227 / run.seconds)),
            BenchResult(
                name: "ss-flow-step-extra-memory", value: Double(run.extraBytes) / 1e6,
                unit: "MB",
                notes: "peak tensor storage above weights and inputs (upstream 3141 MB RSS "
                    + "includes weights and runtime: not comparable)"),
        ]
    }

    /// Sites of a spherical shell (radius r, thickness w) centred in a res³ grid, batch 0.
    static func shell(res: Int, radius r: Double, thickness w: Double) -> [Int32] {
        var coords: [Int32] = []
        let c = Double(res - 1) / 2
        for x in 0..<res {
            for y in 0..<res {
                for z in 0..<res {
                    let dx = Double(x) - c
                    let dy = Double(y) - c
                    let dz = Double(z) - c
                    let d = (dx * dx + dy * dy + dz * dz).squareRoot()
                    if abs(d - r) < w / 2 { coords += [0, Int32(x), Int32(y), Int32(z)] }
                }
            }
        }
        return coords
    }

    /// `slat_flow_img_dit_L_64l8p2` in fp32 on a 64³ shell of ~20,000 voxels (or
    /// `$LATTICE_BENCH_SLAT_VOXELS`), cond [1,1374,1024]. Notes split the time into the io
    /// res blocks (convs, pooling) and the 24 transformer blocks.
    static func slatFlow() throws -> [BenchResult] {
        let target =
            ProcessInfo.processInfo.environment["LATTICE_BENCH_SLAT_VOXELS"]
            .flatMap { Double($0) } ?? 20_000
        var config = SLatFlowModel.Config.imageLarge
        config.useFp16 = false
        let model = try SLatFlowModel(config)
        ModelsBench.randomize(model, seed: 23)
        // A 2-voxel-thick shell has ~8πr² sites; r <= 29 keeps it inside the 64³ grid.
        let radius = Swift.min((target / (8 * Double.pi)).squareRoot(), 29)
        let coords = shell(res: 64, radius: radius, thickness: 2)  // [N, 4] flattened
        let n = coords.count / 4
        var gen = RandomGenerator(seed: 24)
        let x = try SparseTensor(
            coords: Tensor(int32: coords, shape: [n, 4]),
            feats: Tensor.randn([n, 8], generator: &gen))  // [N, 8]
        let cond = Tensor.randn([1, 1374, 1024], generator: &gen)  // [B, L, Cc]
        let t = Tensor([500], shape: [1])
        var tokens = 0
        var marks: [String: UInt64] = [:]
        let start = DispatchTime.now().uptimeNanoseconds
        let run = try withNoGrad {
            try timedOnce {
                _ = try model(x, t: t, cond: cond) { name, h in
                    marks[name] = DispatchTime.now().uptimeNanoseconds
                    if name == "blocks.0" { tokens = h.count }
                }
            }
        }
        func at(_ name: String) -> Double { Double((marks[name] ?? start) - start) * 1e-9 }
        let last = "blocks.\(config.numBlocks - 1)"
        let transformer = at(last) - at("blocks.0.input_after_ape")
        let io = run.seconds - transformer
        return [
            BenchResult(
                name: "slat-flow-step", value: run.seconds * 1e3, unit: "ms",
                baseline: "upstream estimate: 24 x dense stand-in block at N=5000 "
                    + "(upstream-trellis-cpu.md; upstream cannot run sparse on CPU)",
                baselineValue: 44_424,
                notes: "\(n) voxels at 64³, \(tokens) tokens at 32³, fp32, one run; "
                    + String(format: "24 blocks %.1f s, io blocks + rest %.1f s", transformer, io)),
            BenchResult(
                name: "slat-flow-step-extra-memory", value: Double(run.extraBytes) / 1e6,
                unit: "MB", notes: "peak tensor storage above weights and inputs"),
        ]
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "ss-flow-step",
            summary: "SS flow image-L forward, fp32, 4096 tokens, cond 1374, random weights",
            run: { try ssFlow() }),
        Benchmark(
            name: "slat-flow-step",
            summary:
                "SLat flow image-L forward, fp32, ~20k voxels at 64³, cond 1374, random weights",
            run: { try slatFlow() }),
    ]
}
