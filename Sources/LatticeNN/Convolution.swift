// Dense convolution layers: Conv2d, Conv3d, ConvTranspose2d (PyTorch weight layouts and keys),
// sharing one base for their hyper-parameters, parameters and initialisation.
import LatticeTensor

/// Hyper-parameters, `weight` and optional `bias` shared by the dense convolution layers.
public class ConvolutionLayer: Module, @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int
    /// [out, in/groups, k...] (transposed convs: [in, out/groups, k...])
    public let weight: Parameter
    /// [out], when the layer has a bias.
    public let bias: Parameter?
    /// PyTorch's fan-in for the default uniform initialisation.
    private let fanIn: Int

    init(
        layer: String, spatialDims: Int, transposed: Bool, inChannels: Int, outChannels: Int,
        kernelSize: Int, stride: Int, padding: Int, dilation: Int, groups: Int, bias: Bool
    ) {
        precondition(
            groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
            "\(layer): channels \(inChannels)->\(outChannels) do not split into \(groups) groups")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let kernel = [Int](repeating: kernelSize, count: spatialDims)
        let window = kernel.reduce(1, *)
        // PyTorch takes fan_in from weight.size(1) * prod(kernel) for both layouts.
        let lead =
            transposed ? [inChannels, outChannels / groups] : [outChannels, inChannels / groups]
        fanIn = lead[1] * window
        weight = Parameter(Tensor(zeros: lead + kernel))
        self.bias = bias ? Parameter(Tensor(zeros: [outChannels])) : nil
        super.init()
        register("weight", weight)
        if let b = self.bias { register("bias", b) }
    }

    /// Checks an input's rank and channel count at the module boundary.
    func checkInput(_ x: Tensor, rank: Int, layer: String, layout: String) {
        precondition(
            x.rank == rank && x.shape[1] == inChannels,
            "\(layer)(\(inChannels)->\(outChannels)): input shape \(x.shape), expected \(layout)")
    }

    override public func resetParameters(generator: inout RandomGenerator) {
        let bound = 1 / Float(fanIn).squareRoot()
        Initializer.uniform(weight, bound: bound, generator: &generator)
        if let bias { Initializer.uniform(bias, bound: bound, generator: &generator) }
    }
}

/// 2-D convolution (cross-correlation) on [N, C, H, W].
/// Keys: `weight` [out, in/groups, k, k], `bias` [out].
public final class Conv2d: ConvolutionLayer, @unchecked Sendable {
    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        super.init(
            layer: "Conv2d", spatialDims: 2, transposed: false, inChannels: inChannels,
            outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation, groups: groups, bias: bias)
    }

    /// [N, in, H, W] -> [N, out, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        checkInput(x, rank: 4, layer: "Conv2d", layout: "[N, \(inChannels), H, W]")
        return conv2d(
            x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
    }
}

/// 3-D convolution on [N, C, D, H, W]. Keys: `weight` [out, in/groups, k, k, k], `bias` [out].
public final class Conv3d: ConvolutionLayer, @unchecked Sendable {
    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        super.init(
            layer: "Conv3d", spatialDims: 3, transposed: false, inChannels: inChannels,
            outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation, groups: groups, bias: bias)
    }

    /// [N, in, D, H, W] -> [N, out, D', H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        checkInput(x, rank: 5, layer: "Conv3d", layout: "[N, \(inChannels), D, H, W]")
        return conv3d(
            x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
    }
}

/// 2-D transposed convolution on [N, C, H, W].
/// Keys: `weight` [in, out/groups, k, k] (PyTorch's layout), `bias` [out].
public final class ConvTranspose2d: ConvolutionLayer, @unchecked Sendable {
    public let outputPadding: Int

    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        self.outputPadding = outputPadding
        super.init(
            layer: "ConvTranspose2d", spatialDims: 2, transposed: true, inChannels: inChannels,
            outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
            dilation: dilation, groups: groups, bias: bias)
    }

    /// [N, in, H, W] -> [N, out, H', W'] with H' = (H-1)·s - 2p + d·(k-1) + outputPadding + 1.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        checkInput(x, rank: 4, layer: "ConvTranspose2d", layout: "[N, \(inChannels), H, W]")
        return convTranspose2d(
            x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            outputPadding: outputPadding, groups: groups, dilation: dilation)
    }
}
