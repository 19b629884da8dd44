// Training checkpoints: one safetensors file per save, `ckpts/step<NNNNNNN>.safetensors`,
// written atomically, holding everything exact resume needs:
//   model.<name>.<key>        every model's state dict (buffers included), float32
//   ema<i>.<name>.<key>       EMA copy i (rate in the metadata) of every trainable parameter
//   optimizer.param.<j>.*     optimizer moments and per-parameter step counts
//   grad_clip.*               AdaptiveGradClipper buffer (when used)
//   trainer.state             int64 [step, data position, seed bits]
//   history.*                 the loss log so far (step, loss, grad norm, lr, terms)
// Upstream (TRELLIS@6b0d647 trellis/trainers/base.py `save`) writes separate .pt files for the
// model, each EMA and a misc file; one file keeps a save atomic.
import Foundation
import LatticeNN
import LatticeTensor

extension Trainer {
    /// Name of the checkpoint file of `step`.
    public static func checkpointName(step: Int) -> String {
        "step" + String(repeating: "0", count: max(0, 7 - String(step).count)) + "\(step)"
            + ".safetensors"
    }

    /// The newest `ckpts/step*.safetensors` in `directory`, or nil.
    public static func latestCheckpoint(in directory: URL) -> URL? {
        let dir = directory.appendingPathComponent("ckpts")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
            return nil
        }
        let steps = names.compactMap { n -> Int? in
            guard n.hasPrefix("step"), n.hasSuffix(".safetensors") else { return nil }
            return Int(n.dropFirst(4).dropLast(12))
        }
        return steps.max().map { dir.appendingPathComponent(checkpointName(step: $0)) }
    }

    /// Everything a resume needs, by key.
    public func checkpointTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, module) in objective.models {
            for (k, v) in module.stateDict() { out["model.\(name).\(k)"] = v.float() }
        }
        for (i, ema) in emas.enumerated() {
            for ((name, _), shadow) in zip(namedParameters, ema.shadow) {
                out["ema\(i).\(name)"] = shadow
            }
        }
        for (k, v) in optimizer.stateDict() { out["optimizer.\(k)"] = v }
        if let clipper { out.merge(clipper.stateDict()) { a, _ in a } }
        out["trainer.state"] = Tensor(
            int64: [Int64(step), Int64(dataPosition), Int64(bitPattern: options.seed)], shape: [3])
        let n = history.count
        out["history.step"] = Tensor(int64: history.map { Int64($0.step) }, shape: [n])
        out["history.loss"] = Tensor(history.map(\.loss), shape: [n])
        out["history.grad_norm"] = Tensor(history.map(\.gradNorm), shape: [n])
        out["history.lr"] = Tensor(history.map(\.learningRate), shape: [n])
        for term in Set(history.flatMap { $0.terms.keys }) {
            out["history.term.\(term)"] = Tensor(
                history.map { $0.terms[term] ?? .nan }, shape: [n])
        }
        return out
    }

    /// Writes `ckpts/step<N>.safetensors` under `directory` atomically and returns its URL.
    @discardableResult
    public func saveCheckpoint(in directory: URL) throws -> URL {
        let dir = directory.appendingPathComponent("ckpts")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(Self.checkpointName(step: step))
        let rates = options.emaRates.map { "\($0)" }.joined(separator: ",")
        try Safetensors.write(
            checkpointTensors(),
            metadata: [
                "format": "lattice-training-checkpoint", "step": "\(step)", "ema_rates": rates,
            ], to: url)
        try exportWeights(in: dir)
        return url
    }

    /// Writes each model's weights as plain state dicts loadable by `Module.load`, named as
    /// upstream's `{name}_step{N}` and `{name}_ema{rate}_step{N}` (safetensors, not .pt).
    public func exportWeights(in dir: URL) throws {
        let suffix = String(Self.checkpointName(step: step).dropFirst(4))  // "0000042.safetensors"
        for (name, module) in objective.models {
            let weights = module.stateDict()
            try Safetensors.write(
                weights, to: dir.appendingPathComponent("\(name)_step\(suffix)"))
            for (ema, rate) in zip(emas, options.emaRates) {
                var averaged = weights
                for ((key, _), shadow) in zip(namedParameters, ema.shadow)
                where key.hasPrefix(name + ".") {
                    averaged[String(key.dropFirst(name.count + 1))] = shadow
                }
                try Safetensors.write(
                    averaged, to: dir.appendingPathComponent("\(name)_ema\(rate)_step\(suffix)"))
            }
        }
    }

    /// Restores a checkpoint written by `saveCheckpoint`: weights, EMA, optimizer, clipper,
    /// step, data position and history. The seed must match this trainer's.
    public func loadCheckpoint(_ url: URL) throws {
        let file = try SafetensorsFile(url: url)
        let all = try file.tensors()
        guard let state = all["trainer.state"]?.toInts(), state.count == 3 else {
            throw LatticeError(.missingKey, "\(url.path): 'trainer.state' is missing")
        }
        guard UInt64(bitPattern: Int64(state[2])) == options.seed else {
            throw LatticeError(
                .invalidArgument,
                "\(url.path): saved with seed \(UInt64(bitPattern: Int64(state[2]))), this run "
                    + "uses \(options.seed)")
        }
        for (name, module) in objective.models {
            var weights: [String: Tensor] = [:]
            for (k, v) in all where k.hasPrefix("model.\(name).") {
                weights[String(k.dropFirst("model.\(name).".count))] = v
            }
            try module.load(weights, source: "\(url.path) [model.\(name)]")
        }
        for (i, ema) in emas.enumerated() {
            var shadow: [String: Tensor] = [:]
            for (j, (name, _)) in namedParameters.enumerated() {
                guard let t = all["ema\(i).\(name)"] else {
                    throw LatticeError(.missingKey, "\(url.path): 'ema\(i).\(name)' is missing")
                }
                shadow["param.\(j).ema"] = t
            }
            try ema.loadStateDict(shadow)
        }
        var opt: [String: Tensor] = [:]
        for (k, v) in all where k.hasPrefix("optimizer.") {
            opt[String(k.dropFirst("optimizer.".count))] = v
        }
        try optimizer.loadStateDict(opt)
        if var c = clipper {
            try c.load(all)
            clipper = c
        }
        step = state[0]
        dataPosition = state[1]
        history = try Self.history(from: all, source: url.path)
    }

    /// Resumes from the newest checkpoint in `directory`; returns its URL (nil: none, fresh start).
    @discardableResult
    public func resume(from directory: URL) throws -> URL? {
        guard let url = Self.latestCheckpoint(in: directory) else { return nil }
        try loadCheckpoint(url)
        return url
    }

    private static func history(from all: [String: Tensor], source: String) throws -> [StepRecord] {
        guard let steps = all["history.step"]?.toInts(), let loss = all["history.loss"],
            let norm = all["history.grad_norm"], let lr = all["history.lr"]
        else { throw LatticeError(.missingKey, "\(source): 'history.*' entries are missing") }
        let (l, g, r) = (loss.toFloats(), norm.toFloats(), lr.toFloats())
        var terms: [(String, [Float])] = []
        for (k, v) in all where k.hasPrefix("history.term.") {
            terms.append((String(k.dropFirst("history.term.".count)), v.toFloats()))
        }
        return steps.indices.map { i in
            var t: [String: Float] = [:]
            for (name, values) in terms where !values[i].isNaN { t[name] = values[i] }
            return StepRecord(
                step: steps[i], loss: l[i], terms: t, gradNorm: g[i], learningRate: r[i])
        }
    }
}
