import Foundation

/// A one-line progress display on standard error: redrawn in place on a
/// terminal, throttled plain lines otherwise (logs, CI).
struct ProgressBar {
    let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastDraw = Date.distantPast

    /// `fraction` in 0...1; `detail` follows the bar.
    mutating func update(fraction: Double, detail: String, force: Bool = false) {
        let now = Date()
        let interval = isTerminal ? 0.1 : 10
        guard force || now.timeIntervalSince(lastDraw) >= interval else { return }
        lastDraw = now
        if isTerminal {
            let width = 24
            let filled = Int((fraction * Double(width)).rounded(.down))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            write("\r\u{1B}[2K\(bar) \(String(format: "%3.0f%%", fraction * 100)) \(detail)")
        } else {
            write("\(String(format: "%3.0f%%", fraction * 100)) \(detail)\n")
        }
    }

    /// Ends the line on a terminal so later output starts clean.
    func finish() {
        if isTerminal { write("\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
