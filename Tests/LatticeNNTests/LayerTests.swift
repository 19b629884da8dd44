// Layer forwards against hand computation in float64, and parameter gradients against finite
// differences. Tolerances: float32 forwards on O(1) values accumulate ~1e-6 relative rounding
// per reduction; 1e-4 absolute leaves room for sums of up to a few hundred terms.
import Foundation
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeNN

// MARK: float64 references

/// x [rows, in] · wᵀ [in, out] + b.
private func refLinear(_ x: [Double], rows: Int, _ l: Linear) -> [Double] {
    let w = l.weight.value.toFloats()
    let b = l.bias?.value.toFloats()
    var out = [Double](repeating: 0, count: rows * l.outFeatures)
    for r in 0..<rows {
        for o in 0..<l.outFeatures {
            var s = Double(b?[o] ?? 0)
            for i in 0..<l.inFeatures {
                s += x[r * l.inFeatures + i] * Double(w[o * l.inFeatures + i])
            }
            out[r * l.outFeatures + o] = s
        }
    }
    return out
}

/// Normalises each row of length `n` (mean/var, biased), then affine.
private func refLayerNorm(_ x: [Double], n: Int, eps: Double, weight: [Float]?, bias: [Float]?)
    -> [Double]
{
    var out = x
    for r in 0..<(x.count / n) {
        let row = x[(r * n)..<(r * n + n)]
        let mu = row.reduce(0, +) / Double(n)
        let v = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(n)
        for i in 0..<n {
            let y = (x[r * n + i] - mu) / (v + eps).squareRoot()
            out[r * n + i] = y * Double(weight?[i] ?? 1) + Double(bias?[i] ?? 0)
        }
    }
    return out
}

private func doubles(_ t: Tensor) -> [Double] { t.toFloats().map(Double.init) }

private func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.randn(shape, generator: &g)
}

/// Reference multi-head attention from [rows, H·D] q, k, v (per batch item `b` of N/M tokens).
private func refAttention(
    q: [Double], k: [Double], v: [Double], batch: Int, n: Int, m: Int, heads: Int, headDim: Int,
    scale: Double, mask: [Double]?
) -> [Double] {
    let c = heads * headDim
    var out = [Double](repeating: 0, count: batch * n * c)
    for b in 0..<batch {
        for h in 0..<heads {
            for i in 0..<n {
                var logits = [Double](repeating: 0, count: m)
                for j in 0..<m {
                    var s = 0.0
                    for d in 0..<headDim {
                        s +=
                            q[(b * n + i) * c + h * headDim + d]
                            * k[(b * m + j) * c + h * headDim + d]
                    }
                    logits[j] = s * scale + (mask?[i * m + j] ?? 0)
                }
                let mx = logits.max() ?? 0
                let e = logits.map { Foundation.exp($0 - mx) }
                let z = e.reduce(0, +)
                for d in 0..<headDim {
                    var s = 0.0
                    for j in 0..<m { s += e[j] / z * v[(b * m + j) * c + h * headDim + d] }
                    out[(b * n + i) * c + h * headDim + d] = s
                }
            }
        }
    }
    return out
}

@Suite struct LayerTests {
    @Test func linearMatchesHandComputation() {
        let l = Linear(5, 3)
        randomize(l, seed: 1)
        let x = randomTensor([2, 4, 5], seed: 2)
        let y = l(x)
        #expect(y.shape == [2, 4, 3])
        #expect(maxAbsDiff(y.toFloats(), refLinear(doubles(x), rows: 8, l)) < 1e-5)
        let noBias = Linear(5, 3, bias: false)
        #expect(noBias.namedParameters().map(\.0) == ["weight"])
    }

    @Test func linearGradientsWrtParameters() {
        let l = Linear(4, 3)
        randomize(l, seed: 3)
        let x = randomTensor([2, 4], seed: 4)
        parameterGradCheck([l.weight, l.bias!]) { l(x) }
    }

    @Test func layerNormMatchesHandComputation() {
        let ln = LayerNorm(6, eps: 1e-6)
        randomize(ln, seed: 5)
        let x = randomTensor([3, 6], seed: 6)
        let ref = refLayerNorm(
            doubles(x), n: 6, eps: 1e-6, weight: ln.weight?.value.toFloats(),
            bias: ln.bias?.value.toFloats())
        #expect(maxAbsDiff(ln(x).toFloats(), ref) < 1e-4)
        let plain = LayerNorm(6, affine: false)
        #expect(plain.namedParameters().isEmpty)
        let refPlain = refLayerNorm(doubles(x), n: 6, eps: 1e-5, weight: nil, bias: nil)
        #expect(maxAbsDiff(plain(x).toFloats(), refPlain) < 1e-4)
        parameterGradCheck([ln.weight!, ln.bias!]) { ln(x) }
    }

    @Test func channelLayerNormNormalisesOverChannels() {
        let ln = LayerNorm(3)
        randomize(ln, seed: 35)
        let x = randomTensor([2, 3, 2, 2], seed: 36)  // [N, C, H, W]
        let y = ln.channelsFirst(x)
        #expect(y.shape == [2, 3, 2, 2])
        // Gather each (n, h, w) channel vector, normalise it by hand, compare in place.
        let xv = doubles(x)
        let yv = y.toFloats()
        let (w, b) = (ln.weight!.value.toFloats(), ln.bias!.value.toFloats())
        var worst = 0.0
        for n in 0..<2 {
            for p in 0..<4 {
                let idx = (0..<3).map { (n * 3 + $0) * 4 + p }
                let ref = refLayerNorm(idx.map { xv[$0] }, n: 3, eps: 1e-5, weight: w, bias: b)
                for (j, i) in idx.enumerated() { worst = max(worst, abs(Double(yv[i]) - ref[j])) }
            }
        }
        #expect(worst < 1e-4)
    }

    @Test func groupNormMatchesHandComputation() {
        let gn = GroupNorm(groups: 2, channels: 4, eps: 1e-5)
        randomize(gn, seed: 7)
        let x = randomTensor([2, 4, 3], seed: 8)  // [N, C, L]
        let xv = doubles(x)
        let w = gn.weight!.value.toFloats()
        let b = gn.bias!.value.toFloats()
        // Each (n, group) block of 2 channels × 3 positions is contiguous: 6 values.
        var ref = refLayerNorm(xv, n: 6, eps: 1e-5, weight: nil, bias: nil)
        for i in ref.indices {
            let c = (i / 3) % 4
            ref[i] = ref[i] * Double(w[c]) + Double(b[c])
        }
        #expect(maxAbsDiff(gn(x).toFloats(), ref) < 1e-4)
    }

    @Test func rmsNormMatchesHandComputation() {
        let rn = RMSNorm(4, eps: 1e-6)
        randomize(rn, seed: 9)
        let x = randomTensor([3, 4], seed: 10)
        let xv = doubles(x)
        let w = rn.weight!.value.toFloats()
        var ref = xv
        for r in 0..<3 {
            let ms = (0..<4).reduce(0.0) { $0 + xv[r * 4 + $1] * xv[r * 4 + $1] } / 4
            for i in 0..<4 {
                ref[r * 4 + i] = xv[r * 4 + i] / (ms + 1e-6).squareRoot() * Double(w[i])
            }
        }
        #expect(maxAbsDiff(rn(x).toFloats(), ref) < 1e-5)
        parameterGradCheck([rn.weight!]) { rn(x) }
    }

    @Test func multiHeadRMSNormIsScaledL2Normalize() {
        let norm = MultiHeadRMSNorm(heads: 2, headDim: 3)
        randomize(norm, seed: 11)
        let x = randomTensor([4, 2, 3], seed: 12)  // [N, H, D]
        let xv = doubles(x)
        let g = norm.gamma.value.toFloats()
        var ref = xv
        for r in 0..<8 {
            let n = (0..<3).reduce(0.0) { $0 + xv[r * 3 + $1] * xv[r * 3 + $1] }.squareRoot()
            for d in 0..<3 {
                ref[r * 3 + d] =
                    xv[r * 3 + d] / max(n, 1e-12) * Double(g[(r % 2) * 3 + d]) * 3.0.squareRoot()
            }
        }
        #expect(maxAbsDiff(norm(x).toFloats(), ref) < 1e-5)
    }

    @Test func embeddingSelectsRowsAndScattersGradients() {
        let e = Embedding(5, 3)
        randomize(e, seed: 13)
        let ids = Tensor(int64: [4, 0, 4, 2], shape: [2, 2])
        let y = e(ids)
        #expect(y.shape == [2, 2, 3])
        let w = e.weight.value.toFloats()
        let expected = [4, 0, 4, 2].flatMap { Array(w[($0 * 3)..<($0 * 3 + 3)]) }
        #expect(y.toFloats() == expected)
        parameterGradCheck([e.weight]) { e(ids) }
    }

    @Test func activationsMatchFormulas() {
        let xs: [Float] = [-3, -1, -0.25, 0, 0.5, 2]
        let x = Tensor(xs, shape: [6])
        func check(_ a: Activation, _ f: (Double) -> Double) {
            #expect(maxAbsDiff(a(x).toFloats(), xs.map { f(Double($0)) }) < 1e-5, "\(a)")
        }
        check(.relu) { max($0, 0) }
        check(.silu) { $0 / (1 + Foundation.exp(-$0)) }
        check(.quickGelu) { $0 / (1 + Foundation.exp(-1.702 * $0)) }
        check(.gelu) { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        check(.geluTanh) {
            0.5 * $0
                * (1
                    + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0)))
        }
    }

    @Test func mlpComposesLinearActivationLinear() {
        let mlp = MLP(4, hidden: 6, out: 2, activation: .silu)
        randomize(mlp, seed: 14)
        #expect(
            mlp.namedParameters().map(\.0) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        let x = randomTensor([3, 4], seed: 15)
        let h = refLinear(doubles(x), rows: 3, mlp.fc1).map { $0 / (1 + Foundation.exp(-$0)) }
        let ref = refLinear(h, rows: 3, mlp.fc2)
        #expect(maxAbsDiff(mlp(x).toFloats(), ref) < 1e-4)
        parameterGradCheck(mlp.trainableParameters()) { mlp(x) }
    }

    @Test func modulateBroadcastsShiftAndScaleOverTokens() {
        let x = randomTensor([2, 3, 4], seed: 16)
        let shift = randomTensor([2, 4], seed: 17)
        let scale = randomTensor([2, 4], seed: 18)
        let (xv, sh, sc) = (doubles(x), doubles(shift), doubles(scale))
        var ref = xv
        for i in ref.indices {
            let (b, c) = (i / 12, i % 4)
            ref[i] = xv[i] * (1 + sc[b * 4 + c]) + sh[b * 4 + c]
        }
        #expect(maxAbsDiff(modulate(x, shift: shift, scale: scale).toFloats(), ref) < 1e-5)
        gradCheck([x, shift, scale]) { modulate($0[0], shift: $0[1], scale: $0[2]) }
    }

    @Test func selfAttentionFusedQKVWithRMSNormMatchesReference() {
        let (b, n, c, h) = (2, 3, 8, 2)
        let attn = MultiHeadAttention(dim: c, heads: h, qkNorm: .rmsL2)
        randomize(attn, seed: 19)
        let x = randomTensor([b, n, c], seed: 20)
        let qkv = refLinear(doubles(x), rows: b * n, attn.toQKV!)  // [B·N, 3·C]
        let d = c / h
        func part(_ i: Int) -> [Double] {
            var out: [Double] = []
            for r in 0..<(b * n) {
                let start: Int = r * 3 * c + i * c
                out += qkv[start..<(start + c)]
            }
            return out
        }
        func rms(_ t: [Double], _ gamma: [Float]) -> [Double] {
            var out = t
            for r in 0..<(t.count / d) {
                let nrm = (0..<d).reduce(0.0) { $0 + t[r * d + $1] * t[r * d + $1] }.squareRoot()
                for j in 0..<d {
                    out[r * d + j] =
                        t[r * d + j] / nrm * Double(gamma[(r % h) * d + j]) * Double(d).squareRoot()
                }
            }
            return out
        }
        let gq = (attn.qNorm as! MultiHeadRMSNorm).gamma.value.toFloats()
        let gk = (attn.kNorm as! MultiHeadRMSNorm).gamma.value.toFloats()
        let o = refAttention(
            q: rms(part(0), gq), k: rms(part(1), gk), v: part(2), batch: b, n: n, m: n, heads: h,
            headDim: d, scale: 1 / Double(d).squareRoot(), mask: nil)
        let ref = refLinear(o, rows: b * n, attn.toOut)
        let y = attn(x)
        #expect(y.shape == [b, n, c])
        #expect(maxAbsDiff(y.toFloats(), ref) < 1e-4)
    }

    @Test func crossAttentionSeparateProjectionsLayerNormQKAndMask() {
        let (b, n, m, c, cc, h) = (1, 3, 4, 6, 5, 3)
        let attn = MultiHeadAttention(
            dim: c, heads: h, contextDim: cc,
            projection: .separate(q: "q_proj", k: "k_proj", v: "v_proj"), outName: "out_proj",
            qkNorm: .layerNorm(eps: 1e-6))
        #expect(
            attn.namedParameters().map(\.0) == [
                "q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "v_proj.weight",
                "v_proj.bias", "q_norm.weight", "q_norm.bias", "k_norm.weight", "k_norm.bias",
                "out_proj.weight", "out_proj.bias",
            ])
        randomize(attn, seed: 21)
        let x = randomTensor([b, n, c], seed: 22)
        let ctx = randomTensor([b, m, cc], seed: 23)
        var maskValues = [Double](repeating: 0, count: n * m)
        maskValues[1] = -.infinity
        maskValues[7] = -2
        let mask = Tensor(maskValues.map(Float.init), shape: [n, m])
        let d = c / h
        let qn = attn.qNorm as! LayerNorm
        let kn = attn.kNorm as! LayerNorm
        let q = refLayerNorm(
            refLinear(doubles(x), rows: n, attn.toQ!), n: d, eps: 1e-6,
            weight: qn.weight!.value.toFloats(), bias: qn.bias!.value.toFloats())
        let k = refLayerNorm(
            refLinear(doubles(ctx), rows: m, attn.toK!), n: d, eps: 1e-6,
            weight: kn.weight!.value.toFloats(), bias: kn.bias!.value.toFloats())
        let v = refLinear(doubles(ctx), rows: m, attn.toV!)
        let o = refAttention(
            q: q, k: k, v: v, batch: b, n: n, m: m, heads: h, headDim: d,
            scale: 1 / Double(d).squareRoot(), mask: maskValues)
        let ref = refLinear(o, rows: n, attn.toOut)
        #expect(maxAbsDiff(attn(x, context: ctx, mask: mask).toFloats(), ref) < 1e-4)
    }

    @Test func trellisCrossAttentionFusedKVKeysAndShapes() {
        let attn = MultiHeadAttention(
            dim: 8, heads: 2, contextDim: 4, projection: .fusedKV(q: "to_q", kv: "to_kv"))
        let sd = attn.stateDict()
        #expect(sd["to_q.weight"]?.shape == [8, 8])
        #expect(sd["to_kv.weight"]?.shape == [16, 4])
        #expect(sd["to_out.weight"]?.shape == [8, 8])
        randomize(attn, seed: 24)
        #expect(
            attn(randomTensor([2, 3, 8], seed: 25), context: randomTensor([2, 5, 4], seed: 26))
                .shape == [2, 3, 8])
    }

    @Test func causalMaskBlocksTheFuture() {
        let mask = MultiHeadAttention.causalMask(3).toFloats()
        #expect(mask[0] == 0 && mask[1] == -.infinity && mask[2] == -.infinity)
        #expect(mask[3] == 0 && mask[4] == 0 && mask[5] == -.infinity)
        #expect(mask[6...].allSatisfy { $0 == 0 })
    }

    @Test func attentionGradientsWrtParameters() {
        let attn = MultiHeadAttention(dim: 4, heads: 2, qkNorm: .rmsL2)
        randomize(attn, seed: 27)
        let x = randomTensor([1, 3, 4], seed: 28)
        parameterGradCheck(attn.trainableParameters()) { attn(x) }
    }

    @Test func conv2dMatchesDirectLoop() {
        let conv = Conv2d(
            inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1, dilation: 1,
            groups: 2)
        #expect(conv.weight.shape == [6, 2, 3, 3])
        randomize(conv, seed: 29)
        let x = randomTensor([2, 4, 5, 6], seed: 30)
        let y = conv(x)
        #expect(y.shape == [2, 6, 3, 3])
        let (xv, w, bias) = (doubles(x), conv.weight.value.toFloats(), conv.bias!.value.toFloats())
        var ref = [Double](repeating: 0, count: 2 * 6 * 9)
        for n in 0..<2 {
            for o in 0..<6 {
                for i in 0..<3 {
                    for j in 0..<3 {
                        var s = Double(bias[o])
                        for ci in 0..<2 {
                            let cin = (o / 3) * 2 + ci
                            for u in 0..<3 {
                                for v in 0..<3 {
                                    let (yy, xx) = (i * 2 - 1 + u, j * 2 - 1 + v)
                                    guard yy >= 0, yy < 5, xx >= 0, xx < 6 else { continue }
                                    s +=
                                        xv[((n * 4 + cin) * 5 + yy) * 6 + xx]
                                        * Double(w[((o * 2 + ci) * 3 + u) * 3 + v])
                                }
                            }
                        }
                        ref[((n * 6 + o) * 3 + i) * 3 + j] = s
                    }
                }
            }
        }
        #expect(maxAbsDiff(y.toFloats(), ref) < 1e-4)
    }

    @Test func conv3dMatchesDirectLoop() {
        let conv = Conv3d(inChannels: 2, outChannels: 3, kernelSize: 2, stride: 2)
        randomize(conv, seed: 31)
        let x = randomTensor([1, 2, 4, 4, 4], seed: 32)
        let y = conv(x)
        #expect(y.shape == [1, 3, 2, 2, 2])
        let (xv, w, bias) = (doubles(x), conv.weight.value.toFloats(), conv.bias!.value.toFloats())
        var ref = [Double](repeating: 0, count: 24)
        for o in 0..<3 {
            for p in 0..<8 {
                let (z, i, j) = (p / 4, (p / 2) % 2, p % 2)
                var s = Double(bias[o])
                for c in 0..<2 {
                    for t in 0..<8 {
                        let (a, u, v) = (t / 4, (t / 2) % 2, t % 2)
                        s +=
                            xv[((c * 4 + 2 * z + a) * 4 + 2 * i + u) * 4 + 2 * j + v]
                            * Double(w[(o * 2 + c) * 8 + t])
                    }
                }
                ref[o * 8 + p] = s
            }
        }
        #expect(maxAbsDiff(y.toFloats(), ref) < 1e-4)
    }

    @Test func convTranspose2dMatchesScatterLoop() {
        let conv = ConvTranspose2d(
            inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1)
        #expect(conv.weight.shape == [2, 3, 3, 3])
        randomize(conv, seed: 33)
        let x = randomTensor([1, 2, 3, 2], seed: 34)
        let y = conv(x)
        #expect(y.shape == [1, 3, 6, 4])
        let (xv, w, bias) = (doubles(x), conv.weight.value.toFloats(), conv.bias!.value.toFloats())
        var ref = [Double](repeating: 0, count: 3 * 24)
        for i in ref.indices { ref[i] = Double(bias[i / 24]) }
        for c in 0..<2 {
            for i in 0..<3 {
                for j in 0..<2 {
                    for o in 0..<3 {
                        for u in 0..<3 {
                            for v in 0..<3 {
                                let (yy, xx) = (i * 2 - 1 + u, j * 2 - 1 + v)
                                guard yy >= 0, yy < 6, xx >= 0, xx < 4 else { continue }
                                ref[(o * 6 + yy) * 4 + xx] +=
                                    xv[(c * 3 + i) * 2 + j]
                                    * Double(w[((c * 3 + o) * 3 + u) * 3 + v])
                            }
                        }
                    }
                }
            }
        }
        #expect(maxAbsDiff(y.toFloats(), ref) < 1e-4)
    }
}
