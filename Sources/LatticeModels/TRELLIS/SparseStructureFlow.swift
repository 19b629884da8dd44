// microsoft/TRELLIS@6b0d647:trellis/models/sparse_structure_flow.py (TimestepEmbedder so far).
import Foundation
import LatticeNN
import LatticeTensor

/// Embeds scalar diffusion timesteps (already scaled by 1000) as sinusoids followed by an MLP.
public final class TimestepEmbedder: Module {
    /// Constructor arguments, keyed as upstream.
    public struct Config: Codable, Sendable {
        public var hiddenSize: Int
        public var frequencyEmbeddingSize: Int

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
            case frequencyEmbeddingSize = "frequency_embedding_size"
        }

        public init(hiddenSize: Int, frequencyEmbeddingSize: Int = 256) {
            self.hiddenSize = hiddenSize
            self.frequencyEmbeddingSize = frequencyEmbeddingSize
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
            frequencyEmbeddingSize =
                try c.decodeIfPresent(Int.self, forKey: .frequencyEmbeddingSize) ?? 256
        }
    }

    public let config: Config
    /// `mlp.0` (upstream nn.Sequential index 0).
    public let linear1: Linear
    /// `mlp.2` (index 1 is the parameter-free SiLU).
    public let linear2: Linear

    public init(_ config: Config) {
        self.config = config
        linear1 = Linear(config.frequencyEmbeddingSize, config.hiddenSize)
        linear2 = Linear(config.hiddenSize, config.hiddenSize)
        super.init()
        register("mlp.0", linear1)
        register("mlp.2", linear2)
    }

    /// Sinusoidal features `[cos(t f), sin(t f)]` (cos first), `f_i = exp(-ln(maxPeriod) i / half)`.
    /// Everything is float32 as upstream: its float64 `np.log` constant multiplies a float32
    /// tensor, so the product is rounded to float32 before the exp.
    public static func timestepEmbedding(_ t: Tensor, dim: Int, maxPeriod: Float = 10000) -> Tensor
    {
        precondition(t.rank == 1, "timestep_embedding expects t of shape [N], got \(t.shape)")
        let half = dim / 2
        let logPeriod = Float(Foundation.log(Double(maxPeriod)))
        let freqs = (0..<half).map { Foundation.exp(-logPeriod * Float($0) / Float(half)) }
        let ts = t.toFloats()
        let out = Tensor(zeros: [ts.count, dim])  // [N, dim]; an odd dim keeps a zero last column
        let p = out.floats
        for (n, tn) in ts.enumerated() {
            for i in 0..<half {
                let arg = tn * freqs[i]
                p[n * dim + i] = Foundation.cos(arg)
                p[n * dim + half + i] = Foundation.sin(arg)
            }
        }
        return out
    }

    /// `t`: [N] timesteps (already x1000) -> [N, hidden_size].
    public func callAsFunction(_ t: Tensor) -> Tensor {
        let freq = Self.timestepEmbedding(t, dim: config.frequencyEmbeddingSize)  // [N, 256]
        return linear2(linear1(freq).silu())  // [N, C]
    }
}
