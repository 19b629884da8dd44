// Module base: strict loading errors, the sanitize hook, nested state_dict keys, seeded init.
import LatticeTensor
import Testing

@testable import LatticeNN

private final class Toy: Module, @unchecked Sendable {
    let weight: Parameter
    override init() {
        weight = Parameter(Tensor(zeros: [2, 3]))
        super.init()
        register("weight", weight)
    }
}

/// A TRELLIS-like block: self-attention with fused qkv and rms qk-norm, cross-attention, MLP.
private final class Block: Module, @unchecked Sendable {
    let attn: MultiHeadAttention
    let crossAttn: MultiHeadAttention
    let mlp: MLP
    let norm2: LayerNorm
    init(dim: Int, heads: Int, contextDim: Int) {
        attn = MultiHeadAttention(dim: dim, heads: heads, qkNorm: .rmsL2)
        crossAttn = MultiHeadAttention(
            dim: dim, heads: heads, contextDim: contextDim,
            projection: .fusedKV(q: "to_q", kv: "to_kv"))
        mlp = MLP(dim, hidden: 4 * dim, activation: .geluTanh, names: ("mlp.0", "mlp.2"))
        norm2 = LayerNorm(dim, eps: 1e-6)
        super.init()
        register("attn", attn)
        register("cross_attn", crossAttn)
        register("mlp", mlp)
        register("norm2", norm2)
    }
}

private final class Net: Module, @unchecked Sendable {
    let blocks: [Block]
    let head: Linear
    override init() {
        blocks = (0..<2).map { _ in Block(dim: 8, heads: 2, contextDim: 6) }
        head = Linear(8, 3, bias: false)
        super.init()
        register(list: "blocks", blocks)
        register("out_layer", head)
    }
}

/// Strips a "model." prefix, as a checkpoint saved from a wrapper would have.
private final class PrefixedToy: Module, @unchecked Sendable {
    let weight: Parameter
    override init() {
        weight = Parameter(Tensor(zeros: [2]))
        super.init()
        register("weight", weight)
    }
    override func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] {
        Dictionary(
            uniqueKeysWithValues: weights.map { k, v in
                (k.hasPrefix("model.") ? String(k.dropFirst(6)) : k, v)
            })
    }
}

private func loadError(_ m: Module, _ w: [String: Tensor]) -> LatticeError? {
    do {
        try m.load(w, source: "toy.safetensors")
        return nil
    } catch let e as LatticeError {
        return e
    } catch {
        return nil
    }
}

@Suite struct ModuleTests {
    @Test func misShapedTensorNamesKeyAndBothShapes() throws {
        let e = try #require(loadError(Toy(), ["weight": Tensor(zeros: [3, 2])]))
        #expect(e.kind == .shapeMismatch)
        #expect(e.message.contains("toy.safetensors"))
        #expect(e.message.contains("'weight'"))
        #expect(e.message.contains("[3, 2]") && e.message.contains("[2, 3]"))
    }

    @Test func missingTensorNamesKeyAndExpectedShape() throws {
        let e = try #require(loadError(Linear(3, 2), ["weight": Tensor(zeros: [2, 3])]))
        #expect(e.kind == .missingKey)
        #expect(e.message.contains("'bias'") && e.message.contains("[2]"))
    }

    @Test func unusedTensorNamesKeyAndShape() throws {
        let e = try #require(
            loadError(Toy(), ["weight": Tensor(zeros: [2, 3]), "bias": Tensor(zeros: [4])]))
        #expect(e.kind == .unexpectedKey)
        #expect(e.message.contains("'bias'") && e.message.contains("[4]"))
    }

    @Test func failedLoadLeavesModuleUntouched() throws {
        let m = Linear(3, 2)
        let before = m.weight.value
        let bad = ["weight": Tensor(full: [2, 3], value: 1), "bias": Tensor(zeros: [5])]
        #expect(loadError(m, bad)?.kind == .shapeMismatch)
        #expect(m.weight.value === before)
    }

    @Test func loadInstallsLeavesThatTrackGradients() throws {
        let m = Linear(3, 2)
        let w = Tensor((0..<6).map(Float.init), shape: [2, 3]).to(.float16)
        try m.load(["weight": w, "bias": Tensor([1, 2], shape: [2])])
        #expect(m.weight.value.dtype == .float16)  // kept compact; layers convert when used
        #expect(m.weight.value.requiresGrad && m.weight.value.gradFn == nil)
        #expect(m.weight.value.toFloats() == [0, 1, 2, 3, 4, 5])
    }

    @Test func sanitizeRewritesKeysBeforeLoading() throws {
        let m = PrefixedToy()
        try m.load(["model.weight": Tensor([3, 4], shape: [2])])
        #expect(m.weight.value.toFloats() == [3, 4])
    }

    @Test func nestedModulesYieldUpstreamStateDictKeys() {
        let keys = Net().namedParameters().map(\.0)
        for k in [
            "blocks.0.attn.to_qkv.weight", "blocks.0.attn.to_qkv.bias",
            "blocks.0.attn.q_rms_norm.gamma", "blocks.0.attn.k_rms_norm.gamma",
            "blocks.0.attn.to_out.weight", "blocks.1.cross_attn.to_q.weight",
            "blocks.1.cross_attn.to_kv.weight", "blocks.1.mlp.mlp.0.weight",
            "blocks.1.mlp.mlp.2.bias", "blocks.1.norm2.weight", "out_layer.weight",
        ] {
            #expect(keys.contains(k), "missing \(k)")
        }
        #expect(!keys.contains("out_layer.bias"))
        #expect(Set(keys).count == keys.count)
        let sd = Net().stateDict()
        #expect(sd["blocks.1.cross_attn.to_kv.weight"]?.shape == [16, 6])
        #expect(sd["blocks.0.attn.q_rms_norm.gamma"]?.shape == [2, 4])
    }

    @Test func stateDictRoundTripsThroughLoad() throws {
        let a = Net()
        var g = RandomGenerator(seed: 3)
        a.resetParameters(generator: &g)
        let b = Net()
        try b.load(a.stateDict())
        for (k, p) in b.namedParameters() {
            #expect(p.value.toFloats() == a.stateDict()[k]?.toFloats(), "\(k)")
        }
    }

    @Test func resetParametersIsSeededAndBounded() {
        var g1 = RandomGenerator(seed: 42)
        var g2 = RandomGenerator(seed: 42)
        let a = Net()
        let b = Net()
        a.resetParameters(generator: &g1)
        b.resetParameters(generator: &g2)
        for ((ka, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
            #expect(pa.value.toFloats() == pb.value.toFloats(), "\(ka) differs for the same seed")
        }
        // PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        let w = a.head.weight.value.toFloats()
        let bound = 1 / Float(8).squareRoot()
        #expect(w.allSatisfy { abs($0) <= bound } && w.contains { $0 != 0 })
        #expect(a.blocks[0].norm2.weight?.value.toFloats() == [Float](repeating: 1, count: 8))
        #expect(
            a.blocks[0].attn.qNorm.map { $0.namedParameters()[0].1.value.toFloats() }
                == [Float](repeating: 1, count: 8))
    }

    @Test func namedModulesListsDottedPaths() {
        let names = Net().namedModules().map(\.0)
        #expect(names.contains("blocks.0.attn.to_qkv"))
        #expect(names.contains("blocks.1.mlp.mlp.0"))
        #expect(names.first == "")
    }
}
