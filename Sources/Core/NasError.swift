/// What went wrong, in the terms a caller acts on. Every error nasd reports
/// carries one; the CLI maps it to an exit status and (later) the daemon to
/// an HTTP status, each in one place.
public enum ErrorKind: String, Sendable, Codable, CaseIterable {
    /// An argument, option, file or string the user gave cannot be used as it is.
    case invalidInput = "invalid_input"
    /// Something the user named (a run, a file, a table) does not exist.
    case notFound = "not_found"
    /// Stored state (a run database, a weights file, a checkpoint) is corrupt or unreadable.
    case damaged
    /// The machine lacks something nasd needs: a Vulkan device, a library, the data set, memory.
    case environment
    /// A fault of nasd itself or of a library it calls.
    case `internal`
}

/// An error that knows its kind. Its `description` says what happened, where,
/// and what to do about it.
public protocol ClassifiedError: Error, CustomStringConvertible {
    var kind: ErrorKind { get }
}

/// A one-off error with a kind and a message, for checks that need no type of their own.
public struct NasError: ClassifiedError, Equatable, Sendable {
    public let kind: ErrorKind
    public let message: String

    public init(_ kind: ErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public static func invalidInput(_ message: String) -> NasError { NasError(.invalidInput, message) }
    public static func notFound(_ message: String) -> NasError { NasError(.notFound, message) }
    public static func damaged(_ message: String) -> NasError { NasError(.damaged, message) }
    public static func environment(_ message: String) -> NasError { NasError(.environment, message) }
    public static func `internal`(_ message: String) -> NasError { NasError(.internal, message) }
}

extension ErrorKind {
    /// The kind of any error: its own when it is classified, `internal` otherwise
    /// (an error nobody classified is a gap in nasd, not the user's doing).
    public static func of(_ error: any Error) -> ErrorKind {
        (error as? any ClassifiedError)?.kind ?? .internal
    }
}
