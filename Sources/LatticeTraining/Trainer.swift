// The training loop of TRELLIS's BasicTrainer (TRELLIS@6b0d647 trellis/trainers/basic.py,
// base.py): per step, zero the gradients, run `batch_split` micro-batches each backpropagating
// loss / batch_split, clip the global gradient norm (fixed or AdaptiveGradClipper), skip the
// update when a gradient is not finite, step the optimizer at the scheduled rate, then update
// every EMA copy. Lattice trains in float32 (upstream's fp16 "inflat_all" keeps float32 master
// weights, so the update math is the same without loss scaling).
//
// Determinism: all randomness of step s comes from a generator seeded by (seed, s), and the data
// order is a pure function of (seed, sample position), so a checkpoint holding the weights,
// optimizer moments, EMA copies, clipper buffer, step and data position resumes bit for bit.
import Foundation
import LatticeNN
import LatticeTensor

/// What a trainer optimises: named models and the loss of one micro-batch.
public protocol TrainingObjective: AnyObject {
    /// The trained models by name, in a fixed order (checkpoint keys are `model.<name>.<key>`).
    var models: [(name: String, module: Module)] { get }
    /// Number of dataset items; the data order permutes `0..<datasetCount` each epoch.
    var datasetCount: Int { get }
    /// Loss terms of one micro-batch of dataset items. `"loss"` (a scalar with gradient) is
    /// optimised; the others are only logged. `generator` is the step's generator.
    func losses(items: [Int], generator: inout RandomGenerator) throws -> [String: Tensor]
}

/// Loop hyper-parameters (from `TrainerArgs.options()` or set directly).
public struct TrainerOptions: Sendable {
    /// Gradient clipping.
    public enum GradClip: Sendable, Equatable {
        /// PyTorch `clip_grad_norm_` with this max norm.
        case fixed(Float)
        /// TRELLIS AdaptiveGradClipper: clip at the percentile of the last `bufferSize` norms
        /// (capped by `maxNorm`) once the buffer is full.
        case adaptive(maxNorm: Float?, percentile: Double, bufferSize: Int)
    }

    public var maxSteps: Int
    /// Items per step (upstream batch_size_per_gpu on one GPU).
    public var batchSize = 1
    /// Micro-batches per step (gradient accumulation).
    public var batchSplit = 1
    /// "AdamW" or "Adam".
    public var optimizer = "AdamW"
    public var learningRate: Float = 1e-4
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    /// LinearWarmupLRScheduler warmup (nil: constant rate, as the SS configs).
    public var warmupSteps: Int?
    /// Half-cosine decay after the warmup down to this fraction of the rate at `maxSteps`
    /// (Lattice's `CosineWarmupLRScheduler`; nil: constant after the warmup, as upstream).
    public var cosineMinFraction: Float?
    public var emaRates: [Float] = [0.9999]
    public var gradClip: GradClip?
    /// Loss-log / plot interval in steps.
    public var logEvery = 500
    /// Checkpoint interval in steps.
    public var saveEvery = 10000
    /// Seed of the data order and per-step noise.
    public var seed: UInt64 = 0

    public init(maxSteps: Int) { self.maxSteps = maxSteps }
}

/// One step's logged losses.
public struct StepRecord: Sendable, Equatable {
    /// The step number (1-based: the count of updates done after it).
    public var step: Int
    /// Mean of `"loss"` over the micro-batches.
    public var loss: Float
    /// Mean of each other term over the micro-batches.
    public var terms: [String: Float]
    /// Global gradient norm before clipping.
    public var gradNorm: Float
    /// Learning rate used.
    public var learningRate: Float
}

/// What the progress callback sees after each step.
public struct TrainingProgress: Sendable {
    public var step: Int
    public var maxSteps: Int
    public var record: StepRecord
    /// Steps per second over this run (since start or resume).
    public var stepsPerSecond: Double
    /// Estimated seconds to `maxSteps`.
    public var etaSeconds: Double
}

/// TRELLIS AdaptiveGradClipper: clip at the `percentile` of the last `bufferSize` finite
/// gradient norms (capped by `maxNorm`) once the buffer has filled; before that at `maxNorm`.
public struct AdaptiveGradClipper: Sendable, Equatable {
    public let maxNorm: Float?
    public let percentile: Double
    public private(set) var norms: [Float]
    public private(set) var currentMaxNorm: Float?
    public private(set) var pointer = 0
    public private(set) var length = 0

    public init(maxNorm: Float?, percentile: Double = 95, bufferSize: Int = 1000) {
        self.maxNorm = maxNorm
        self.percentile = percentile
        norms = [Float](repeating: 0, count: bufferSize)
        currentMaxNorm = maxNorm
    }

    /// Clips the gradients of `parameters` and returns the norm before clipping.
    public mutating func callAsFunction(_ parameters: [Parameter]) -> Float {
        let norm = clipGradNorm(parameters, maxNorm: currentMaxNorm ?? .infinity)
        if norm.isFinite {
            norms[pointer] = norm
            pointer = (pointer + 1) % norms.count
            length = min(length + 1, norms.count)
            if length == norms.count {
                let p = Self.percentile(norms, percentile)
                currentMaxNorm = maxNorm.map { min(p, $0) } ?? p
            }
        }
        return norm
    }

    /// numpy `percentile` (linear interpolation between closest ranks), in Double.
    static func percentile(_ values: [Float], _ q: Double) -> Float {
        let s = values.map(Double.init).sorted()
        let pos = q / 100 * Double(s.count - 1)
        let lo = Int(pos.rounded(.down))
        let hi = min(lo + 1, s.count - 1)
        return Float(s[lo] + (s[hi] - s[lo]) * (pos - Double(lo)))
    }

    /// State for checkpoints.
    func stateDict() -> [String: Tensor] {
        [
            "grad_clip.grad_norm": Tensor(norms, shape: [norms.count]),
            "grad_clip.max_norm": Tensor([currentMaxNorm ?? .nan], shape: [1]),
            "grad_clip.buffer": Tensor(int64: [Int64(pointer), Int64(length)], shape: [2]),
        ]
    }

    mutating func load(_ state: [String: Tensor]) throws {
        guard let g = state["grad_clip.grad_norm"], let m = state["grad_clip.max_norm"],
            let b = state["grad_clip.buffer"]
        else { throw LatticeError(.missingKey, "checkpoint: grad_clip.* entries are missing") }
        guard g.count == norms.count else {
            throw LatticeError(
                .shapeMismatch,
                "checkpoint: grad_clip.grad_norm has \(g.count) entries, buffer_size is \(norms.count)"
            )
        }
        norms = g.float().toFloats()
        let mv = m.float().toFloats()[0]
        currentMaxNorm = mv.isNaN ? nil : mv
        let pl = b.toInts()
        pointer = pl[0]
        length = pl[1]
    }
}

/// The training loop over a `TrainingObjective`: accumulation, clipping, AdamW, EMA,
/// checkpoints with exact resume, loss history.
public final class Trainer {
    public let objective: TrainingObjective
    public let options: TrainerOptions
    public let optimizer: Optimizer
    /// One EMA per `options.emaRates`.
    public let emas: [EMA]
    /// Trainable parameters with their checkpoint names (`<model>.<key>`), in a fixed order.
    public let namedParameters: [(String, Parameter)]
    /// Updates done so far.
    public internal(set) var step = 0
    /// Dataset samples consumed so far (position in the seeded data order).
    public internal(set) var dataPosition = 0
    /// One record per step done (restored on resume).
    public internal(set) var history: [StepRecord] = []
    var clipper: AdaptiveGradClipper?
    private let order: DataOrder

    public init(objective: TrainingObjective, options: TrainerOptions) throws {
        guard objective.datasetCount > 0 else {
            throw LatticeError(.invalidArgument, "Trainer: the dataset is empty")
        }
        let names = objective.models.map(\.name)
        guard Set(names).count == names.count else {
            throw LatticeError(
                .invalidArgument,
                "Trainer: model names \(names) repeat (checkpoint keys would collide)")
        }
        self.objective = objective
        self.options = options
        var named: [(String, Parameter)] = []
        for (name, module) in objective.models {
            named += module.namedParameters(prefix: name + ".").filter { !$0.1.isBuffer }
        }
        namedParameters = named
        let params = named.map(\.1)
        switch options.optimizer {
        case "AdamW":
            optimizer = AdamW(
                params, learningRate: options.learningRate, beta1: options.beta1,
                beta2: options.beta2, eps: options.eps, weightDecay: options.weightDecay)
        case "Adam":
            optimizer = Adam(
                params, learningRate: options.learningRate, beta1: options.beta1,
                beta2: options.beta2, eps: options.eps, weightDecay: options.weightDecay)
        default:
            throw LatticeError(.unsupported, "Trainer: optimizer '\(options.optimizer)'")
        }
        emas = options.emaRates.map { EMA(params, decay: $0) }
        if case .adaptive(let m, let p, let b) = options.gradClip {
            clipper = AdaptiveGradClipper(maxNorm: m, percentile: p, bufferSize: b)
        }
        order = DataOrder(count: objective.datasetCount, seed: options.seed)
        for (_, m) in objective.models { m.train(true) }
    }

    /// The learning rate of step `step` (zero-based).
    public func learningRate(at step: Int) -> Float {
        if let fraction = options.cosineMinFraction {
            return CosineWarmupSchedule(
                rate: options.learningRate, warmupSteps: options.warmupSteps ?? 0,
                totalSteps: options.maxSteps, minRate: options.learningRate * fraction
            ).learningRate(at: step)
        }
        guard let w = options.warmupSteps else { return options.learningRate }
        return LinearWarmupSchedule(rate: options.learningRate, warmupSteps: w)
            .learningRate(at: step)
    }

    /// The generator of step `step`: a pure function of (seed, step).
    public func stepGenerator(_ step: Int) -> RandomGenerator {
        RandomGenerator(seed: splitMix(options.seed ^ splitMix(UInt64(step) &+ 0x5EED)))
    }

    /// Runs one optimisation step and returns its record.
    @discardableResult
    public func trainStep() throws -> StepRecord {
        var generator = stepGenerator(step)
        let items = (0..<options.batchSize).map { order.item(dataPosition + $0) }
        let split = options.batchSplit
        let micro = options.batchSize / split
        optimizer.zeroGrad()
        var sums: [String: Double] = [:]
        for s in 0..<split {
            let terms = try objective.losses(
                items: Array(items[(s * micro)..<((s + 1) * micro)]), generator: &generator)
            guard let loss = terms["loss"] else {
                throw LatticeError(.missingKey, "Trainer: the objective returned no 'loss' term")
            }
            (loss / Float(split)).backward()
            for (k, v) in terms { sums[k, default: 0] += Double(v.float().toFloats()[0]) }
        }
        let params = namedParameters.map(\.1)
        var norm: Float
        switch options.gradClip {
        case .fixed(let m): norm = clipGradNorm(params, maxNorm: m)
        case .adaptive:
            if var c = clipper {
                norm = c(params)
                clipper = c
            } else {
                norm = Self.gradNorm(params)
            }
        case nil: norm = Self.gradNorm(params)
        }
        let lr = learningRate(at: step)
        // Upstream skips the update (but not the EMA) when a gradient is not finite.
        if norm.isFinite {
            optimizer.learningRate = lr
            optimizer.step()
        }
        for ema in emas { ema.update() }
        optimizer.zeroGrad()
        step += 1
        dataPosition += options.batchSize
        var terms: [String: Float] = [:]
        for (k, v) in sums where k != "loss" { terms[k] = Float(v / Double(split)) }
        let record = StepRecord(
            step: step, loss: Float((sums["loss"] ?? 0) / Double(split)), terms: terms,
            gradNorm: norm, learningRate: lr)
        history.append(record)
        return record
    }

    /// Trains until `maxSteps` (or `stopAt`, for an interrupted run), saving checkpoints every
    /// `saveEvery` steps and at the end when `outputDirectory` is set, and the loss log and
    /// plot every `logEvery` steps and at the end.
    public func run(
        outputDirectory: URL? = nil, stopAt: Int? = nil,
        progress: ((TrainingProgress) -> Void)? = nil
    ) throws {
        let end = min(options.maxSteps, stopAt ?? options.maxSteps)
        let start = Date()
        let firstStep = step
        while step < end {
            let record = try trainStep()
            let elapsed = Date().timeIntervalSince(start)
            let rate = Double(step - firstStep) / max(elapsed, 1e-9)
            progress?(
                TrainingProgress(
                    step: step, maxSteps: options.maxSteps, record: record, stepsPerSecond: rate,
                    etaSeconds: Double(options.maxSteps - step) / max(rate, 1e-9)))
            if let dir = outputDirectory {
                if step % options.saveEvery == 0 || step == end {
                    try saveCheckpoint(in: dir)
                }
                if step % options.logEvery == 0 || step == end {
                    try TrainingLog.write(history, to: dir)
                }
            }
        }
    }

    static func gradNorm(_ params: [Parameter]) -> Float {
        var sum = 0.0
        for p in params {
            guard let g = p.value.grad else { continue }
            for v in g.float().toFloats() { sum += Double(v) * Double(v) }
        }
        return Float(sum.squareRoot())
    }
}

/// The seeded data order: epoch e is a Fisher-Yates permutation of 0..<count drawn from
/// (seed, e); sample position k maps to permutation(k / count)[k % count].
struct DataOrder {
    let count: Int
    let seed: UInt64
    private let cache = Cache()

    final class Cache: @unchecked Sendable {
        var epoch = -1
        var permutation: [Int] = []
    }

    init(count: Int, seed: UInt64) {
        self.count = count
        self.seed = seed
    }

    func item(_ position: Int) -> Int {
        let epoch = position / count
        if cache.epoch != epoch {
            var rng = Uniform(seed: splitMix(seed ^ splitMix(UInt64(epoch) &+ 0xDA7A)))
            var p = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = min(i, Int(rng.next() * Float(i + 1)))
                p.swapAt(i, j)
            }
            cache.epoch = epoch
            cache.permutation = p
        }
        return cache.permutation[position % count]
    }
}

/// SplitMix64 finaliser: decorrelates derived seeds.
func splitMix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
