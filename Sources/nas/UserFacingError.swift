import ArgumentParser
import Foundation

/// Prints `message` to standard error and returns the exit code for invalid
/// input (2), so commands can `throw invalidInput(…)`.
func invalidInput(_ message: CustomStringConvertible) -> ExitCode {
    FileHandle.standardError.write(Data(("error: " + message.description + "\n").utf8))
    return ExitCode(2)
}

/// Prints `message` to standard error and returns exit code 1: the input was
/// fine, the machine could not do the work (no device, a library failed).
func failure(_ message: CustomStringConvertible) -> ExitCode {
    FileHandle.standardError.write(Data(("error: " + message.description + "\n").utf8))
    return ExitCode(1)
}

/// Writes a Codable value as JSON on standard output: keys sorted, so scripts
/// and tests see the same bytes every time.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Left-aligned text columns, widths from the widest cell.
func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    guard let columns = rows.map(\.count).max() else { return "" }
    let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, cell in
            let pad = String(repeating: " ", count: widths[c] - cell.count)
            return rightAligned.contains(c) ? pad + cell : cell + pad
        }.joined(separator: "  ").trimmingTrailingSpaces()
    }.joined(separator: "\n")
}

/// 10571664 → "10,571,664".
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
