// A terminal progress bar for long stages: steps, rate and ETA on stderr. On a terminal it
// redraws one line; otherwise (logs, CI) it prints a line at most every few seconds.
import Foundation

/// Draws `label [#####.....] i/n  r steps/s  ETA t` for a loop of known length.
final class ProgressBar {
    let label: String
    let total: Int
    let start: Date
    var lastPrint = Date.distantPast
    let isTerminal = isatty(STDERR_FILENO) != 0
    /// What a step is called in the rate ("steps/s", "items/s"), plural.
    let unit: String
    var singular: String { unit.hasSuffix("s") ? String(unit.dropLast()) : unit }

    /// A bar for `total` steps whose clock started at `start` (default now).
    init(_ label: String, total: Int, start: Date = Date(), unit: String = "steps") {
        self.label = label
        self.unit = unit
        self.start = start
        self.total = max(total, 1)
    }

    /// Reports that `done` of `total` steps are finished; `note` is shown after the counts (e.g. a
    /// loss); `rate` and `eta` override the ones measured from this bar's start (resumed runs).
    func update(
        _ done: Int, note: String = "", rate measuredRate: Double? = nil,
        eta etaOverride: Double? = nil
    ) {
        let now = Date()
        let finished = done >= total
        guard finished || now.timeIntervalSince(lastPrint) >= (isTerminal ? 0.1 : 5) else {
            return
        }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = measuredRate ?? (elapsed > 0 ? Double(done) / elapsed : 0)
        var eta = etaOverride ?? (rate > 0 ? Double(total - done) / rate : 0)
        if !eta.isFinite { eta = 0 }
        let width = 24
        let filled = min(width, done * width / total)
        let bar =
            String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        // A rate measured over a fraction of a second (a bar created at its first step) says
        // nothing yet.
        let known = measuredRate != nil || elapsed >= 0.5 || finished
        let rateText =
            !known
            ? "-- \(unit)/s"
            : rate >= 1
                ? String(format: "%.2f ", rate) + "\(unit)/s"
                : String(format: "%.1f s/", rate > 0 ? 1 / rate : 0) + singular
        let line =
            "\(label) [\(bar)] \(done)/\(total)  \(note.isEmpty ? "" : note + "  ")\(rateText)  "
            + (finished
                ? "done in \(Self.duration(elapsed))"
                : known ? "ETA \(Self.duration(eta))" : "ETA --")
        let text = isTerminal ? "\r\u{1B}[K" + line + (finished ? "\n" : "") : line + "\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// `1m05s`, `12.3s`.
    static func duration(_ s: Double) -> String {
        s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.1fs", s)
    }
}
