public import Core

/// A run's name: the folder it lives in under the runs directory, and how
/// the CLI, the daemon's URLs and the logs refer to it. Letters, digits, `.`,
/// `_` and `-`, starting with a letter or digit, at most 64 characters: no
/// separators, no `..`, nothing a shell or a URL must escape.
public struct RunName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) throws(NasError) {
        let scalars = Array(text.unicodeScalars)
        func allowed(_ s: Unicode.Scalar, first: Bool) -> Bool {
            let alphanumeric = ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
            return alphanumeric || (!first && (s == "." || s == "_" || s == "-"))
        }
        guard (1...64).contains(scalars.count), allowed(scalars[0], first: true),
              scalars.dropFirst().allSatisfy({ allowed($0, first: false) }) else {
            throw .invalidInput("'\(text)' is not a run name: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (for example mnasnet-fm-evolution-s0)")
        }
        self.text = text
    }

    public var description: String { text }

    public static func < (a: RunName, b: RunName) -> Bool { a.text < b.text }
}
