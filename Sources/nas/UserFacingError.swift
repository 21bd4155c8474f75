import ArgumentParser
import Core
import Foundation

/// The one place an error kind becomes an exit status (the table in README, "The CLI").
/// The daemon maps the same kinds to HTTP statuses in one place of its own.
enum ExitStatus {
    static func of(_ kind: ErrorKind) -> Int32 {
        switch kind {
        case .invalidInput, .notFound, .damaged: return 2
        case .environment, .internal: return 1
        }
    }
}

/// Runs option checks written against the shared `Limits` inside an
/// ArgumentParser `validate()`, so a bad option is reported with the usage
/// like every other parse error (exit status 2).
func validating(_ checks: () throws -> Void) throws {
    do { try checks() } catch { throw ValidationError("\(error)") }
}

/// Writes a Codable value as JSON on standard output: keys sorted, so scripts
/// and tests see the same bytes every time.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Writes `text` and a newline to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
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

/// Ends the process with `status` once standard output and error are
/// flushed, without running libraries' exit-time handlers. Lavapipe's LLVM
/// registers handlers in a library the Vulkan loader has already unloaded
/// (destroying the instance closes the driver), and running them crashed
/// about one exit in ten on a busy machine: SIGSEGV in unmapped code, after
/// the result was printed but before buffered output reached a pipe.
/// Nothing is lost by skipping them: every store commit and file nasd
/// writes is complete before a command returns (a run survives kill -9).
func leave(_ status: Int32) -> Never {
    fflush(nil)  // every C stream: print's buffered standard output among them
    _exit(status)
}
