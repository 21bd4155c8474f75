public import Core
public import Foundation

/// Where a PostgreSQL store lives: `postgres://user[:password]@host[:port]/database`
/// (also `postgresql://`). The password may come from `PGPASSWORD` instead,
/// so that it stays out of shell histories and process listings.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let user: String
    public let password: String?
    public let database: String

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(NasError) {
        let example = "postgres://nasd@127.0.0.1:5432/nasd"
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              ["postgres", "postgresql"].contains(scheme) else {
            throw .invalidInput("--store '\(Self.redacted(text))' is not a PostgreSQL URL: write it as \(example) (the password in PGPASSWORD or after the user name)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw .invalidInput("--store '\(Self.redacted(text))' names no host: write it as \(example)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw .invalidInput("--store '\(Self.redacted(text))' names no user: write it as \(example)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw .invalidInput("--store '\(Self.redacted(text))' names no database (the path after the port): write it as \(example)")
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw .invalidInput("--store port \(port) is outside 1–65535") }
        self.host = host
        self.port = port
        self.user = user
        self.password = components.password ?? environment["PGPASSWORD"]
        self.database = database
    }

    /// The URL without its password: for messages, logs and the run's own record.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// Whether `text` asks for PostgreSQL at all (as opposed to the default SQLite).
    public static func names(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    private static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "…"
        return components.string ?? text
    }
}
