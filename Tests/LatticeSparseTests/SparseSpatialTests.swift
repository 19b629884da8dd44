// Sparse pooling: downsample ordering and the sum/(n+1) quirk against a dictionary twin,
// upsample round trips, subdivide ordering, and their gradients.
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeSparse

@Suite struct SparseSpatialTests {
    /// Coarse rows sorted lexicographically by (b, x, y, z), feats Σ children / (n + 1).
    /// Tolerance 1e-6: a handful of additions and one division in float32.
    @Test func downsampleMatchesDictionaryTwin() throws {
        var g = RandomGenerator(seed: 21)
        let x = try randomSparse(counts: [60, 45, 30], res: 7, channels: 3, generator: &g)
        let down = sparseDownsample(x, factor: 2)
        let c = x.coords.toInts()
        let f = x.feats.toFloats()
        var sums: [[Int]: [Float]] = [:]
        var counts: [[Int]: Int] = [:]
        for i in 0..<x.count {
            let key = [c[4 * i], c[4 * i + 1] / 2, c[4 * i + 2] / 2, c[4 * i + 3] / 2]
            sums[key, default: [0, 0, 0]] = zip(
                sums[key, default: [0, 0, 0]], f[(3 * i)..<(3 * i + 3)]
            ).map { $0 + $1 }
            counts[key, default: 0] += 1
        }
        let keys = sums.keys.sorted { $0.lexicographicallyPrecedes($1) }
        #expect(down.coords.toInts() == keys.flatMap { $0 })
        let ref = keys.flatMap { k in sums[k]!.map { $0 / Float(counts[k]! + 1) } }
        #expect(maxAbsDiff(down.feats.toFloats(), ref) < 1e-6)
        #expect(down.offsets == [0] + (0..<3).map { b in keys.filter { $0[0] <= b }.count })

        // Upsample restores the fine sites in their order, copying parents.
        let up = try sparseUpsample(down)
        #expect(up.coords.toInts() == c)
        let parent = try #require(down.downsampleParentIndex()).toInts()
        let df = down.feats.toFloats()
        #expect(up.feats.toFloats() == parent.flatMap { p in df[(3 * p)..<(3 * p + 3)] })
        // The fine rulebook survives the round trip (same chain, same scale).
        let map = x.neighbourMap()
        #expect(up.neighbourMap() === map)
        // Upsampling a tensor that no downsample produced is an error.
        #expect(throws: LatticeError.self) { try sparseUpsample(x) }
    }

    @Test func subdivideOrdersChildrenZFastest() throws {
        let x = try SparseTensor(
            coords: Tensor(int32: [0, 1, 2, 3, 1, 0, 0, 0], shape: [2, 4]),
            feats: Tensor([5, 7], shape: [2, 1]))
        let y = try sparseSubdivide(x)
        let c = y.coords.toInts()
        #expect(Array(c[0..<12]) == [0, 2, 4, 6, 0, 2, 4, 7, 0, 2, 5, 6])
        #expect(Array(c[16..<20]) == [0, 3, 4, 6])
        #expect(Array(c[32..<36]) == [1, 0, 0, 0])
        #expect(
            y.feats.toFloats() == [Float](repeating: 5, count: 8) + [Float](repeating: 7, count: 8))
        #expect(y.offsets == [0, 8, 16])
        let big = try SparseTensor(
            coords: Tensor(int32: [0, 512, 0, 0], shape: [1, 4]), feats: Tensor(zeros: [1, 1]))
        #expect(throws: LatticeError.self) { try sparseSubdivide(big) }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        var g = RandomGenerator(seed: 22)
        let x = try randomSparse(counts: [12, 8], res: 4, channels: 2, generator: &g)
        gradCheck([x.feats]) { t in sparseDownsample(x.replacing(feats: t[0])).feats }
        let down = sparseDownsample(x)
        gradCheck([down.feats]) { t in
            (try? sparseUpsample(down.replacing(feats: t[0])).feats) ?? t[0]
        }
        gradCheck([x.feats]) { t in (try? sparseSubdivide(x.replacing(feats: t[0])).feats) ?? t[0] }
    }
}
