// Loss functions with PyTorch semantics (mse, l1, smooth L1, BCE with logits) and the TRELLIS
// training losses (Dice on sigmoid probabilities, KL of a diagonal Gaussian to N(0, I)).
import LatticeTensor

/// How element-wise losses are combined.
public enum LossReduction: Sendable {
    /// Mean over all elements (PyTorch default).
    case mean
    /// Sum over all elements.
    case sum
    /// Keep the element-wise loss.
    case none

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .mean: return x.mean()
        case .sum: return x.sum()
        case .none: return x
        }
    }
}

/// Namespaced loss functions: `Loss.mse(p, t)`.
public enum Loss {
    private static func checkShapes(_ name: String, _ a: Tensor, _ b: Tensor) {
        precondition(
            a.shape == b.shape, "\(name): prediction shape \(a.shape) != target shape \(b.shape)")
    }

    /// Mean squared error (p - t)².
    public static func mse(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean)
        -> Tensor
    {
        checkShapes("mse", prediction, target)
        let d = prediction - target
        return reduction.apply(d * d)
    }

    /// Mean absolute error |p - t|.
    public static func l1(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean)
        -> Tensor
    {
        checkShapes("l1", prediction, target)
        return reduction.apply((prediction - target).abs())
    }

    /// Huber-style smooth L1 (PyTorch `smooth_l1_loss`): 0.5 d²/β where |d| < β, else |d| - β/2.
    /// β = 0 is plain L1, as in PyTorch.
    public static func smoothL1(
        _ prediction: Tensor, _ target: Tensor, beta: Float = 1, reduction: LossReduction = .mean
    ) -> Tensor {
        checkShapes("smoothL1", prediction, target)
        precondition(beta >= 0, "smoothL1: beta must be >= 0, got \(beta)")
        let a = (prediction - target).abs()
        if beta == 0 { return reduction.apply(a) }
        // With m = min(|d|, β): 0.5 m²/β + (|d| - m) equals both branches and needs no select.
        let m = a.clamp(max: beta)
        return reduction.apply(m * m * (0.5 / beta) + (a - m))
    }

    /// Binary cross-entropy on logits x with targets t in [0, 1], in the stable form
    /// max(x, 0) - x·t + log(1 + exp(-|x|)) (PyTorch `binary_cross_entropy_with_logits`).
    public static func bceWithLogits(
        _ logits: Tensor, _ target: Tensor, reduction: LossReduction = .mean
    ) -> Tensor {
        checkShapes("bceWithLogits", logits, target)
        let softTail = ((-logits.abs()).exp() + 1).log()
        return reduction.apply(logits.relu() - logits * target + softTail)
    }

    /// TRELLIS SS-VAE Dice loss over the whole batch, on sigmoid probabilities:
    /// 1 - (2·Σ(σ(x)·t) + smooth) / (Σσ(x) + Σt + smooth), a scalar.
    public static func dice(_ logits: Tensor, _ target: Tensor, smooth: Float = 1) -> Tensor {
        checkShapes("dice", logits, target)
        let p = logits.sigmoid()
        let intersection = (p * target).sum()
        let ratio = (intersection * 2 + smooth) / (p.sum() + target.sum() + smooth)
        return 1 - ratio
    }

    /// KL divergence of N(mean, exp(logvar)) from N(0, I), as TRELLIS's VAE trainers:
    /// 0.5 · reduce(mean² + exp(logvar) - logvar - 1). `.mean` averages over all elements
    /// (TRELLIS), `.sum` sums them.
    public static func kl(
        mean: Tensor, logvar: Tensor, reduction: LossReduction = .mean
    ) -> Tensor {
        checkShapes("kl", mean, logvar)
        return reduction.apply((mean * mean + logvar.exp() - logvar - 1) * 0.5)
    }
}
