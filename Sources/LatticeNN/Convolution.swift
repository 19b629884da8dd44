// Dense convolution layers: Conv2d, Conv3d, ConvTranspose2d (PyTorch weight layouts and keys).
import LatticeTensor

/// 2-D convolution (cross-correlation) on [N, C, H, W].
/// Keys: `weight` [out, in/groups, k, k], `bias` [out].
public final class Conv2d: Module, @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    /// [out, in/groups, k, k]
    public let weight: Parameter
    /// [out], when the layer has a bias.
    public let bias: Parameter?

    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        precondition(
            groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
            "Conv2d: channels \(inChannels)->\(outChannels) do not split into \(groups) groups")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        weight = Parameter(
            Tensor(zeros: [outChannels, inChannels / groups, kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }

    /// [N, in, H, W] -> [N, out, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
            x.rank == 4 && x.shape[1] == inChannels,
            "Conv2d(\(inChannels)->\(outChannels)): input shape \(x.shape), expected [N, \(inChannels), H, W]"
        )
        return conv2d(
            x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        Initializer.uniform(weight, bound: bound, generator: &generator)
        if let bias { Initializer.uniform(bias, bound: bound, generator: &generator) }
    }
}

/// 3-D convolution on [N, C, D, H, W]. Keys: `weight` [out, in/groups, k, k, k], `bias` [out].
public final class Conv3d: Module, @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    /// [out, in/groups, k, k, k]
    public let weight: Parameter
    /// [out], when the layer has a bias.
    public let bias: Parameter?

    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        precondition(
            groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
            "Conv3d: channels \(inChannels)->\(outChannels) do not split into \(groups) groups")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        weight = Parameter(
            Tensor(zeros: [outChannels, inChannels / groups, kernelSize, kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }

    /// [N, in, D, H, W] -> [N, out, D', H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
            x.rank == 5 && x.shape[1] == inChannels,
            "Conv3d(\(inChannels)->\(outChannels)): input shape \(x.shape), expected [N, \(inChannels), D, H, W]"
        )
        return conv3d(
            x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        let fanIn = inChannels / groups * kernelSize * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        Initializer.uniform(weight, bound: bound, generator: &generator)
        if let bias { Initializer.uniform(bias, bound: bound, generator: &generator) }
    }
}

/// 2-D transposed convolution on [N, C, H, W].
/// Keys: `weight` [in, out/groups, k, k] (PyTorch's layout), `bias` [out].
public final class ConvTranspose2d: Module, @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int
    public let dilation: Int
    public let groups: Int
    /// [in, out/groups, k, k]
    public let weight: Parameter
    /// [out], when the layer has a bias.
    public let bias: Parameter?

    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        precondition(
            groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
            "ConvTranspose2d: channels \(inChannels)->\(outChannels) do not split into \(groups) groups"
        )
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        self.groups = groups
        weight = Parameter(
            Tensor(zeros: [inChannels, outChannels / groups, kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }

    /// [N, in, H, W] -> [N, out, H', W'] with H' = (H-1)·s - 2p + d·(k-1) + outputPadding + 1.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
            x.rank == 4 && x.shape[1] == inChannels,
            "ConvTranspose2d(\(inChannels)->\(outChannels)): input shape \(x.shape), expected [N, \(inChannels), H, W]"
        )
        return convTranspose2d(
            x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            outputPadding: outputPadding, groups: groups, dilation: dilation)
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        // PyTorch computes fan_in from weight.size(1) * k * k for transposed convs.
        let fanIn = outChannels / groups * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        Initializer.uniform(weight, bound: bound, generator: &generator)
        if let bias { Initializer.uniform(bias, bound: bound, generator: &generator) }
    }
}
