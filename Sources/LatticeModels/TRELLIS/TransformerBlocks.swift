// microsoft/TRELLIS@6b0d647:trellis/modules/transformer/blocks.py (AbsolutePositionEmbedder,
// FeedForwardNet).
import Foundation
import LatticeNN
import LatticeTensor

/// Fixed sin/cos embedding of integer coordinates, laid out `[x_sin, x_cos, y_sin, y_cos, ...]`
/// and zero-padded to `channels`. Has no parameters.
public final class AbsolutePositionEmbedder: Module, @unchecked Sendable {
    /// Constructor arguments, keyed as upstream.
    public struct Config: Codable, Sendable {
        public var channels: Int
        public var inChannels: Int

        enum CodingKeys: String, CodingKey {
            case channels
            case inChannels = "in_channels"
        }

        public init(channels: Int, inChannels: Int = 3) {
            self.channels = channels
            self.inChannels = inChannels
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            channels = try c.decode(Int.self, forKey: .channels)
            inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        }
    }

    public let config: Config
    /// Frequencies per axis: `channels / in_channels / 2`.
    public let freqDim: Int
    /// `1 / 10000^(j / freqDim)`, computed in float32 as upstream.
    public let freqs: [Float]

    public init(_ config: Config) {
        self.config = config
        freqDim = config.channels / config.inChannels / 2
        let fd = Float(freqDim)
        freqs = (0..<freqDim).map { 1 / Foundation.pow(Float(10000), Float($0) / fd) }
        super.init()
    }

    /// `coords`: [N, in_channels] (integer or float positions) -> [N, channels] float32.
    public func callAsFunction(_ coords: Tensor) -> Tensor {
        precondition(
            coords.rank == 2 && coords.shape[1] == config.inChannels,
            "AbsolutePositionEmbedder expects [N, \(config.inChannels)] coords, got \(coords.shape)"
        )
        let n = coords.shape[0]
        let d = config.inChannels
        let c = config.channels
        let values = coords.toFloats()
        let out = Tensor(zeros: [n, c])  // [N, C]; columns past 2*freqDim*d stay zero
        let p = out.floats
        for i in 0..<n {
            for a in 0..<d {
                let base = i * c + a * 2 * freqDim
                for j in 0..<freqDim {
                    let arg = values[i * d + a] * freqs[j]
                    p[base + j] = Foundation.sin(arg)
                    p[base + freqDim + j] = Foundation.cos(arg)
                }
            }
        }
        return out
    }
}

extension TRELLIS {
    /// `mlp.2(GELU_tanh(mlp.0(x)))`: TRELLIS's FFN uses the tanh approximation.
    public final class FeedForwardNet: Module, @unchecked Sendable {
        public let fc1: Linear
        public let fc2: Linear

        public init(channels: Int, mlpRatio: Double = 4) {
            let hidden = Int(Double(channels) * mlpRatio)
            fc1 = Linear(channels, hidden)
            fc2 = Linear(hidden, channels)
            super.init()
            register("mlp.0", fc1)
            register("mlp.2", fc2)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            fc2(fc1(x).gelu(approximate: .tanh))
        }
    }
}
