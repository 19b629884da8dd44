// Modules: parameters and buffers addressed by their PyTorch state_dict keys, strict loading,
// and a per-model sanitize hook for checkpoint quirks.
import LatticeTensor

/// A trainable tensor or a persistent buffer, boxed so loading and optimizers can replace it.
public final class Parameter: @unchecked Sendable {
    /// The current value. Modules read this in forward.
    public var value: Tensor
    /// Buffers are saved and loaded but never trained (e.g. TRELLIS's `pos_emb`).
    public let isBuffer: Bool

    public init(_ value: Tensor, isBuffer: Bool = false) {
        self.value = value
        self.isBuffer = isBuffer
        if !isBuffer && value.dtype.isFloatingPoint { value.requiresGrad = true }
    }

    /// Shape of the current value.
    public var shape: [Int] { value.shape }

    /// Replaces the value with `tensor` as a fresh leaf (tracking gradients unless a buffer),
    /// keeping the accumulated `.grad` when `keepGrad` is set (optimizers update this way).
    public func assign(_ tensor: Tensor, keepGrad: Bool = false) {
        let leaf = tensor.detach()
        if !isBuffer && leaf.dtype.isFloatingPoint { leaf.requiresGrad = true }
        if keepGrad { leaf.grad = value.grad }
        value = leaf
    }
}

/// Base class of every layer and model. Subclasses register parameters and children in `init`
/// under their upstream names, so `namedParameters()` yields exact state_dict keys.
open class Module: @unchecked Sendable {
    private var parameterList: [(String, Parameter)] = []
    private var childList: [(String, Module)] = []
    /// Training mode flag (dropout and similar), set recursively by `train(_:)`.
    public private(set) var isTraining = false

    public init() {}

    /// Registers a parameter (or buffer) under its local state_dict name; returns it.
    @discardableResult
    public func register(_ name: String, _ parameter: Parameter) -> Parameter {
        precondition(!parameterList.contains { $0.0 == name }, "parameter \(name) registered twice")
        parameterList.append((name, parameter))
        return parameter
    }

    /// Creates and registers a float32 parameter of zeros with `shape`.
    @discardableResult
    public func parameter(_ name: String, _ shape: [Int], isBuffer: Bool = false) -> Parameter {
        register(name, Parameter(Tensor(zeros: shape), isBuffer: isBuffer))
    }

    /// Registers a child module under its local name (`"attn"`, `"blocks.3"`); returns it.
    @discardableResult
    public func register<M: Module>(_ name: String, _ child: M) -> M {
        precondition(!childList.contains { $0.0 == name }, "child \(name) registered twice")
        childList.append((name, child))
        return child
    }

    /// Registers children `name.0`, `name.1`, ... (a PyTorch ModuleList); returns them.
    @discardableResult
    public func register<M: Module>(list name: String, _ children: [M]) -> [M] {
        for (i, c) in children.enumerated() { register("\(name).\(i)", c) }
        return children
    }

    /// Direct children in registration order.
    public var children: [(String, Module)] { childList }

    /// Every parameter and buffer with its full dotted state_dict key, in registration order.
    public func namedParameters(prefix: String = "") -> [(String, Parameter)] {
        var out = parameterList.map { (prefix + $0.0, $0.1) }
        for (name, child) in childList {
            out += child.namedParameters(prefix: prefix + name + ".")
        }
        return out
    }

    /// Trainable parameters (buffers excluded).
    public func trainableParameters() -> [Parameter] {
        namedParameters().map(\.1).filter { !$0.isBuffer }
    }

    /// Sets training mode recursively.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, c) in childList { c.train(on) }
    }

    /// Rewrites a checkpoint's tensors into this model's layout before loading (renamed keys,
    /// fused projections, prefixes). The default returns its input; models override it.
    open func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] { weights }

    /// Loads `weights` strictly: every key must exist with the exact shape, and every
    /// parameter must be provided. Tensors keep their stored dtype (f16/bf16 stay compact);
    /// layers convert when they compute. `source` names the file in error messages.
    public func load(_ weights: [String: Tensor], source: String = "weights") throws {
        let weights = sanitize(weights)
        let params = namedParameters()
        let known = Dictionary(params.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let missing = params.filter { weights[$0.0] == nil }.map { "'\($0.0)' \($0.1.shape)" }
        let unused = weights.keys.filter { known[$0] == nil }.sorted()
            .map { "'\($0)' \(weights[$0]?.shape ?? [])" }
        if !missing.isEmpty {
            throw LatticeError(
                .missingKey,
                "\(source): missing \(missing.count) tensor(s) expected by \(type(of: self)): "
                    + Module.list(missing))
        }
        if !unused.isEmpty {
            throw LatticeError(
                .unexpectedKey,
                "\(source): \(unused.count) tensor(s) not used by \(type(of: self)): "
                    + Module.list(unused))
        }
        var values: [(Parameter, Tensor)] = []
        for (key, p) in params {
            guard let w = weights[key] else { continue }
            if w.shape != p.value.shape {
                throw LatticeError(
                    .shapeMismatch,
                    "\(source): tensor '\(key)' has shape \(w.shape) but \(type(of: self)) expects "
                        + "\(p.value.shape)")
            }
            values.append((p, w))
        }
        // Assign only after every check passed, so a failed load leaves the module untouched.
        for (p, w) in values { p.assign(w) }
    }

    private static func list(_ items: [String]) -> String {
        items.prefix(8).joined(separator: ", ") + (items.count > 8 ? ", ..." : "")
    }

    /// Re-initialises parameters from `generator`, recursively and in registration order, so
    /// the same seed gives the same model. Layers override this (PyTorch `reset_parameters`);
    /// the default only recurses into children.
    open func resetParameters(generator: inout RandomGenerator) {
        for (_, c) in childList { c.resetParameters(generator: &generator) }
    }

    /// Every module in the tree with its dotted path ("" for self), depth first.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for (name, child) in childList {
            out += child.namedModules(prefix: prefix.isEmpty ? name : prefix + "." + name)
        }
        return out
    }

    /// The state dict: every parameter and buffer by key.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedParameters().map { ($0.0, $0.1.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Number of scalar parameters (buffers included).
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.value.count } }
}
