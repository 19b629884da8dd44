// Shared helpers for sparse tests: random sparse sets and array comparisons.
import LatticeSparse
import LatticeTensor

/// Largest absolute difference between two equally long arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

/// Random distinct sites in a `res`³ grid for each item (`counts[b]` each), items contiguous
/// and ascending, rows shuffled inside each item. Returns coords as flat (b, x, y, z) values.
func randomSites(counts: [Int], res: Int, generator g: inout RandomGenerator) -> [Int32] {
    var out: [Int32] = []
    for (b, n) in counts.enumerated() {
        precondition(n <= res * res * res, "\(n) sites do not fit in \(res)^3")
        var cells = Array(0..<(res * res * res))
        // Fisher-Yates with the test generator so sets are reproducible.
        for i in stride(from: cells.count - 1, to: 0, by: -1) {
            let j = Int(g.next4().0 % UInt32(i + 1))
            cells.swapAt(i, j)
        }
        for cell in cells.prefix(n) {
            out += [
                Int32(b), Int32(cell / (res * res)), Int32(cell / res % res), Int32(cell % res),
            ]
        }
    }
    return out
}

/// A random sparse tensor with `channels` standard-normal features.
func randomSparse(
    counts: [Int], res: Int, channels: Int, generator g: inout RandomGenerator
) throws -> SparseTensor {
    let sites = randomSites(counts: counts, res: res, generator: &g)
    let n = sites.count / 4
    return try SparseTensor(
        coords: Tensor(int32: sites, shape: [n, 4]),
        feats: Tensor.randn([n, channels], generator: &g))
}
