public import Core

/// A run's name: the folder it lives in under the runs directory, and how
/// the CLI, the daemon's URLs and the logs refer to it. A new run's name is
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit, at
/// most 64 characters: no separators, no `..`, nothing a shell or a URL must
/// escape.
public struct RunName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let text: String

    /// A new run's name, checked against the rule above.
    public init(_ text: String) throws(NasError) {
        let scalars = Array(text.unicodeScalars)
        guard (1...64).contains(scalars.count), Self.allowed(scalars[0], first: true),
              scalars.dropFirst().allSatisfy({ Self.allowed($0, first: false) }) else {
            throw .invalidInput("'\(text)' is not a run name: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (for example mnasnet-fm-evolution-s0)")
        }
        self.text = text
    }

    /// The name of a run that may already exist: any folder name an earlier
    /// build accepted (spaces, a leading `_`, more than 64 characters), as long
    /// as it is one path component. Opening, listing and resuming take these;
    /// only new runs need the strict form.
    public init(existing text: String) throws(NasError) {
        guard !text.isEmpty, text != ".", text != "..", !text.hasPrefix(Self.stagingMark), !text.contains("/"),
              !text.unicodeScalars.contains("\u{0}") else {
            throw .invalidInput("'\(text)' is not a run name: give the name of a folder under the runs directory (list them with `nas runs`)")
        }
        self.text = text
    }

    private init(verified text: String) { self.text = text }

    /// A name for a new run built from parts that may hold anything (a space's
    /// name): characters a name cannot hold become '-', leading ones go, and
    /// it is cut to 64.
    public static func derived(from parts: [String]) -> RunName {
        let scalars = parts.joined(separator: "-").unicodeScalars.map { allowed($0, first: false) ? $0 : "-" }
            .drop { !allowed($0, first: true) }.prefix(64)
        return scalars.isEmpty ? RunName(verified: "run") : RunName(verified: String(String.UnicodeScalarView(scalars)))
    }

    private static func allowed(_ s: Unicode.Scalar, first: Bool) -> Bool {
        let alphanumeric = ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
        return alphanumeric || (!first && (s == "." || s == "_" || s == "-"))
    }

    /// Folders being created start with this; they are never runs.
    static let stagingMark = ".creating-"

    public var description: String { text }

    public static func < (a: RunName, b: RunName) -> Bool { a.text < b.text }
}
