import Foundation

/// A progress bar with rate and ETA on stderr. On a terminal it redraws one line; otherwise it prints a
/// line at most every few seconds so logs stay readable. Silent with `--quiet`.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let total: Int
    private let unit: String
    private let quiet: Bool
    private let isTTY = isatty(2) != 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var done = 0
    private let lock = NSLock()

    init(_ label: String, total: Int, unit: String = "", quiet: Bool) {
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.quiet = quiet
    }

    /// Records `n` more finished items (thread-safe) and redraws if due.
    func advance(_ n: Int = 1) { update(lock.withLock { done += n; return done }) }

    /// Sets the number of finished items (thread-safe) and redraws if due.
    func update(_ completed: Int) {
        if quiet { return }
        lock.lock()
        defer { lock.unlock() }
        done = completed
        let now = Date()
        let interval = isTTY ? 0.1 : 5.0
        // The final state is drawn by `finish()`.
        guard now.timeIntervalSince(lastDraw) >= interval, completed < total else { return }
        lastDraw = now
        draw(now: now, final: false)
    }

    /// Draws the final state and ends the line.
    func finish() {
        if quiet { return }
        lock.withLock { draw(now: Date(), final: true) }
    }

    private func draw(now: Date, final: Bool) {
        let elapsed = now.timeIntervalSince(start)
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 28
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let rateText = rate >= 10 ? String(format: "%.0f", rate) : String(format: "%.2f", rate)
        let timeText = final ? "in \(formatDuration(elapsed))" : "ETA \(formatDuration(eta))"
        let line = "\(label) \(bar) \(done)/\(total) \(rateText) \(unit)/s \(timeText)"
        if isTTY {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line + (final ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

/// "1h02m", "3m05s", "12.3s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    if seconds < 60 { return String(format: "%.1fs", seconds) }
    let s = Int(seconds.rounded())
    if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
}

/// Writes a line to stderr unless quiet.
func note(_ text: String, quiet: Bool = false) {
    if !quiet { FileHandle.standardError.write(Data((text + "\n").utf8)) }
}
