// Reverse-mode autodiff over a recorded graph. Every differentiable op records a GradNode with
// its inputs and a backward rule; the rules themselves live in this folder (Autodiff/), one file
// per op family, so every derivative in Lattice is found in one place.

/// A recorded operation: the inputs it read and how to map an output gradient to input gradients.
public final class GradNode: @unchecked Sendable {
    /// Op name, for debugging and error messages.
    public let name: String
    /// The op's tensor inputs, in the order `backward` returns their gradients.
    public let inputs: [Tensor]
    /// Maps the output gradient to one gradient per input (nil: no gradient for that input).
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }

    /// What a node becomes once backward consumed it: a second backward through it is an error.
    static func freed(_ name: String) -> GradNode {
        GradNode(name: name + " (freed)", inputs: []) { _ in
            preconditionFailure(
                "backward through '\(name)' a second time: its graph was freed by the first "
                    + "backward (pass retainGraph: true to keep it)")
        }
    }
}

/// Whether ops record autodiff graphs in the current task (see `withNoGrad`).
public enum GradMode {
    @TaskLocal public static var isEnabled: Bool = true
}

/// Runs `body` without recording autodiff graphs (inference, optimizer updates).
@inlinable
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$isEnabled.withValue(false) { try body() }
}

/// Runs `body` with graph recording on, even inside a `withNoGrad` scope.
@inlinable
public func withGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$isEnabled.withValue(true) { try body() }
}

extension Tensor {
    /// Attaches a backward rule to `output` when grad mode is on and any input requires grad.
    /// Returns `output` for chaining.
    @discardableResult
    public static func record(
        _ name: String, output: Tensor, inputs: [Tensor],
        backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.requiresGrad = true
        output.gradFn = GradNode(name: name, inputs: inputs, backward: backward)
        return output
    }

    /// A view of the same storage with no autodiff history.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset, dtype: dtype)
    }

    /// Marks this tensor as a leaf that receives gradients; returns self.
    @discardableResult
    public func requiringGrad(_ on: Bool = true) -> Tensor {
        requiresGrad = on
        return self
    }

    /// Backpropagates from this tensor. `gradient` defaults to ones (a scalar loss gives 1).
    /// Leaf tensors that require grad accumulate into `.grad`. As PyTorch, the graph is freed
    /// as it is consumed unless `retainGraph` (backward rules that capture their own output form
    /// reference cycles, which would otherwise keep every step's activations alive).
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        precondition(requiresGrad, "backward() on a tensor that does not require grad")
        let seed = gradient ?? Tensor(full: shape, value: 1)
        precondition(seed.shape == shape, "gradient shape \(seed.shape) != tensor shape \(shape)")

        // Topological order by iterative DFS (graphs can be thousands of nodes deep).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded {
                order.append(t)
                continue
            }
            if visited.contains(ObjectIdentifier(t)) { continue }
            visited.insert(ObjectIdentifier(t))
            stack.append((t, true))
            for input in t.gradFn?.inputs ?? [] where input.requiresGrad {
                if !visited.contains(ObjectIdentifier(input)) { stack.append((input, false)) }
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        withNoGrad {
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                guard let fn = t.gradFn else {
                    t.grad = t.grad.map { Tensor.accumulate($0, g) } ?? g.contiguous()
                    continue
                }
                let inputGrads = fn.backward(g)
                if !retainGraph { t.gradFn = GradNode.freed(fn.name) }
                precondition(
                    inputGrads.count == fn.inputs.count,
                    "\(fn.name): backward returned \(inputGrads.count) grads for \(fn.inputs.count) inputs"
                )
                for (input, gi) in zip(fn.inputs, inputGrads) where input.requiresGrad {
                    guard let gi else { continue }
                    precondition(
                        gi.shape == input.shape,
                        "\(fn.name): gradient shape \(gi.shape) != input shape \(input.shape)")
                    let key = ObjectIdentifier(input)
                    grads[key] = grads[key].map { Tensor.accumulate($0, gi) } ?? gi
                }
            }
        }
    }

    /// Sum of two same-shape gradients (float32), as a new contiguous tensor.
    static func accumulate(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(
            a.shape == b.shape, "accumulating gradients of shapes \(a.shape) and \(b.shape)")
        return withNoGrad { a.float() + b.float() }
    }
}

/// Gradient checkpointing: runs `fn` without keeping its intermediate activations and recomputes
/// them during backward. Gradients reach `inputs` through the recorded node and reach any
/// parameters `fn` uses by accumulation into their `.grad`, as PyTorch's reentrant checkpoint.
public func checkpoint(_ inputs: [Tensor], _ fn: @escaping ([Tensor]) -> Tensor) -> Tensor {
    let out = withNoGrad { fn(inputs) }
    return Tensor.record("checkpoint", output: out, inputs: inputs) { g in
        let fresh = inputs.map { $0.detach().requiringGrad($0.requiresGrad) }
        withGrad {
            let y = fn(fresh)
            if y.requiresGrad { y.backward(g) }
        }
        return fresh.map { $0.grad }
    }
}
