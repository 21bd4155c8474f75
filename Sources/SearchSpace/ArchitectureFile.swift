public import Core
import Foundation

/// Why an architecture argument (a string or a `.arch` file) could not be read.
public enum ArchitectureInputError: ClassifiedError {
    case unreadable(path: String)
    case noArchitecture(path: String)
    case severalArchitectures(path: String, lines: [Int])
    case syntax(path: String?, line: Int?, ArchitectureSyntaxError)

    public var kind: ErrorKind {
        if case .unreadable = self { return .notFound }
        return .invalidInput
    }

    public var description: String {
        switch self {
        case let .unreadable(path):
            return "\(path): cannot be read; pass an architecture string (like r28_w1.0:stem_k3_s1_o16|…|head_o256) or the path of a .arch file"
        case let .noArchitecture(path):
            return "\(path): holds no architecture; a .arch file has one architecture string on a line of its own ('#' starts a comment)"
        case let .severalArchitectures(path, lines):
            return "\(path): holds architecture strings on lines \(lines.map(String.init).joined(separator: ", ")); a .arch file holds exactly one"
        case let .syntax(path?, line?, error):
            return "\(path):\(line): \(error)"
        case let .syntax(_, _, error):
            return error.description
        }
    }
}

extension Architecture {
    /// Reads a `.arch` file: one architecture string on its own line; blank
    /// lines and lines starting with `#` are ignored.
    public init(contentsOf path: String) throws(ArchitectureInputError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .unreadable(path: path)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .map { (number: $0 + 1, text: $1.trimmingCharacters(in: .whitespaces)) }
            .filter { !$0.text.isEmpty && !$0.text.hasPrefix("#") }
        guard let first = lines.first else { throw .noArchitecture(path: path) }
        guard lines.count == 1 else { throw .severalArchitectures(path: path, lines: lines.map(\.number)) }
        do {
            self = try Architecture(parsing: first.text)
        } catch {
            throw .syntax(path: path, line: first.number, error)
        }
    }

    /// An architecture given on the command line: a file path if one exists
    /// there, otherwise the string itself.
    public init(argument: String) throws(ArchitectureInputError) {
        if FileManager.default.fileExists(atPath: argument) {
            try self.init(contentsOf: argument)
            return
        }
        do {
            self = try Architecture(parsing: argument)
        } catch {
            let looksLikePath = argument.hasSuffix(".arch") || (argument.contains("/") && !argument.contains(":"))
            if looksLikePath { throw .unreadable(path: argument) }
            throw .syntax(path: nil, line: nil, error)
        }
    }
}
