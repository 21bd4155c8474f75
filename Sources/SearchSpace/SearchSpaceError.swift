public import Core

/// One problem found in a search-space file, at a line and column.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    /// 1-based; 0 when the problem has no place (an unreadable file).
    public let line: Int
    public let column: Int
    public let message: String

    public var description: String { "\(line):\(column): \(message)" }
}

/// A search-space file that cannot be used, with every problem found in it.
public struct SearchSpaceError: ClassifiedError, Sendable {
    /// An unreadable file is not found; any other problem is the file's content.
    public var kind: ErrorKind { diagnostics.contains { $0.line == 0 } ? .notFound : .invalidInput }

    public let path: String
    public let diagnostics: [Diagnostic]

    /// One line per problem, in the `file:line:column: error: reason` form editors jump to.
    public var description: String {
        diagnostics.map { d in
            d.line > 0 ? "\(path):\(d.line):\(d.column): error: \(d.message)" : "\(path): error: \(d.message)"
        }.joined(separator: "\n")
    }
}
