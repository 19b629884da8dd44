// TEMP shims (models helper): stand-ins for LatticeNN layers the nn helper owns (Linear,
// LayerNorm, Embedding, Conv2d), forward-only. Drop this file when main has the real layers.
import LatticeTensor

public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Parameter(Tensor(zeros: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Tensor(zeros: [outFeatures])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight.value, bias: bias?.value) }
}

public final class LayerNorm: Module {
    public let weight: Parameter?
    public let bias: Parameter?
    public let eps: Float
    public init(_ dim: Int, eps: Float = 1e-5, affine: Bool = true) {
        self.eps = eps
        weight = affine ? Parameter(Tensor(full: [dim], value: 1)) : nil
        bias = affine ? Parameter(Tensor(zeros: [dim])) : nil
        super.init()
        if let weight { register("weight", weight) }
        if let bias { register("bias", bias) }
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, weight: weight?.value, bias: bias?.value, eps: eps)
    }
}

public final class Embedding: Module {
    public let weight: Parameter
    public init(_ count: Int, _ dim: Int) {
        weight = Parameter(Tensor(zeros: [count, dim]))
        super.init()
        register("weight", weight)
    }
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        weight.value.indexSelect(axis: 0, index: ids.flatten()).reshape(ids.shape + [weight.shape[1]])
    }
}

public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, bias: Bool = true) {
        self.stride = stride
        weight = Parameter(Tensor(zeros: [outChannels, inChannels, kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: 0)
    }
}

public final class Conv3d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        self.stride = stride
        self.padding = padding
        weight = Parameter(Tensor(zeros: [outChannels, inChannels, kernelSize, kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv3d(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding)
    }
}
