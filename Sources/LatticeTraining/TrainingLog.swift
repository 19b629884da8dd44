// The loss log of a run: `log.csv` and `log.json` (one row per step: step, loss, grad norm,
// learning rate, other terms) and a loss-curve plot rendered into a RasterImage, written as
// `loss.png`. All written atomically.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor

/// Loss log files and the loss-curve plot.
public enum TrainingLog {
    /// Writes `log.csv`, `log.json` and `loss.png` for `history` into `directory`.
    public static func write(_ history: [StepRecord], to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let terms = Set(history.flatMap { $0.terms.keys }).sorted()
        var csv = (["step", "loss", "grad_norm", "lr"] + terms).joined(separator: ",") + "\n"
        var rows: [String] = []
        for r in history {
            let values = [r.loss, r.gradNorm, r.learningRate] + terms.map { r.terms[$0] ?? .nan }
            csv += "\(r.step)," + values.map { "\($0)" }.joined(separator: ",") + "\n"
            let fields =
                [
                    "\"step\": \(r.step)", "\"loss\": \(json(r.loss))",
                    "\"grad_norm\": \(json(r.gradNorm))",
                    "\"lr\": \(json(r.learningRate))",
                ]
                + terms.compactMap { t in r.terms[t].map { "\"\(t)\": \(json($0))" } }
            rows.append("{" + fields.joined(separator: ", ") + "}")
        }
        try writeAtomically(Data(csv.utf8), to: directory.appendingPathComponent("log.csv"))
        try writeAtomically(
            Data(("[\n" + rows.joined(separator: ",\n") + "\n]\n").utf8),
            to: directory.appendingPathComponent("log.json"))
        try writePNG(
            plotLossCurve(history.map(\.loss)), to: directory.appendingPathComponent("loss.png"))
    }

    private static func json(_ v: Float) -> String { v.isFinite ? "\(v)" : "null" }

    /// A line plot of `values` against their index on a white canvas: light-grey axes, the raw
    /// curve in light blue and a running mean (window ~2% of the run) in dark blue; the y range
    /// spans the finite values.
    public static func plotLossCurve(_ values: [Float], width: Int = 640, height: Int = 360)
        -> RasterImage
    {
        var image = RasterImage(width: width, height: height, channels: 3, fill: 1)
        let margin = 20
        let (x0, x1, y0, y1) = (margin, width - margin - 1, margin, height - margin - 1)
        let axis = SIMD3<Float>(0.7, 0.7, 0.7)
        line(&image, x0, y1, x1, y1, axis)
        line(&image, x0, y0, x0, y1, axis)
        let finite = values.filter(\.isFinite)
        guard values.count >= 2, let lo = finite.min(), let hi = finite.max() else { return image }
        let span = max(hi - lo, 1e-12)
        func point(_ i: Int, _ v: Float) -> (Int, Int) {
            let x = x0 + Int((Float(i) / Float(values.count - 1) * Float(x1 - x0)).rounded())
            let y = y1 - Int(((v - lo) / span * Float(y1 - y0)).rounded())
            return (x, y)
        }
        let window = max(1, values.count / 50)
        var smooth: [Float] = []
        var sum: Float = 0
        var queue: [Float] = []
        for v in values where v.isFinite {
            queue.append(v)
            sum += v
            if queue.count > window { sum -= queue.removeFirst() }
            smooth.append(sum / Float(queue.count))
        }
        for (series, colour) in [
            (values, SIMD3<Float>(0.65, 0.8, 1)), (smooth, SIMD3<Float>(0.05, 0.2, 0.7)),
        ] {
            for i in 1..<series.count where series[i - 1].isFinite && series[i].isFinite {
                let a = point(i - 1, series[i - 1])
                let b = point(i, series[i])
                line(&image, a.0, a.1, b.0, b.1, colour)
            }
        }
        return image
    }

    private static func line(
        _ image: inout RasterImage, _ xa: Int, _ ya: Int, _ xb: Int, _ yb: Int, _ c: SIMD3<Float>
    ) {
        let n = max(abs(xb - xa), abs(yb - ya), 1)
        for s in 0...n {
            let x = xa + (xb - xa) * s / n
            let y = ya + (yb - ya) * s / n
            guard x >= 0, x < image.width, y >= 0, y < image.height else { continue }
            for k in 0..<3 { image[x, y, k] = c[k] }
        }
    }
}
