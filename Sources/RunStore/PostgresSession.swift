import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// One connection to a PostgreSQL server, used synchronously: the run store's
/// protocol is called from the search's and the evaluators' threads, never
/// from an event loop, so each query waits for its future. Calls are
/// serialised (a transaction is a run of statements on one connection), and
/// a connection the server closed is opened again at the next call.
/// PostgresNIO's types stay in this file and the store's.
final class PostgresSession: @unchecked Sendable {
    let url: PostgresURL
    private let lock = NSRecursiveLock()
    private var connection: PostgresConnection?
    private let logger = Logger(label: "nasd.postgres")
    private static let connectionIDs = ManagedCounter()

    init(_ url: PostgresURL) throws(RunStoreError) {
        self.url = url
        lock.lock()
        defer { lock.unlock() }
        _ = try open()
    }

    deinit { try? connection?.close().wait() }

    private func open() throws(RunStoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        var configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user,
                                                             password: url.password, database: url.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        do {
            let opened = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                        id: Self.connectionIDs.next(), logger: logger).wait()
            connection = opened
            if let searchPath {
                do { _ = try opened.query(PostgresQuery(unsafeSQL: "SET search_path TO \(searchPath)"), logger: logger).wait() } catch {
                    throw RunStoreError.failed(path: url.description, reason: Self.reason(error))
                }
            }
            return opened
        } catch let error as RunStoreError {
            throw error
        } catch {
            throw .unreachable(server: url.description, reason: Self.reason(error))
        }
    }

    /// Where unqualified table names resolve for the rest of the connection's
    /// life (set again if it is reopened): a store's own schema, once, rather
    /// than a `SET LOCAL` in every transaction.
    private var searchPath: String?

    func use(schema: String) throws(RunStoreError) {
        lock.lock()
        defer { lock.unlock() }
        searchPath = "\(schema), public"
        try query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema), public"))
    }

    /// Errors of a call's own statements, as the store's (no transaction: one
    /// statement is atomic by itself).
    func statement<T>(_ body: () throws -> T) throws(RunStoreError) -> T {
        do { return try body() } catch let error as RunStoreError { throw error } catch {
            throw .failed(path: url.description, reason: "\(error)")
        }
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery) throws(RunStoreError) -> [PostgresRow] {
        lock.lock()
        defer { lock.unlock() }
        let connection = try open()
        do { return Array(try connection.query(query, logger: logger).wait().rows) } catch {
            throw .failed(path: url.description, reason: Self.reason(error))
        }
    }

    /// Runs `body` in one transaction: committed whole when it returns,
    /// rolled back when it throws, whose error passes through as it is.
    /// Nested calls join the outer transaction.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if depth > 0 {
            depth += 1
            defer { depth -= 1 }
            return try body()
        }
        try query("BEGIN")
        depth = 1
        defer { depth = 0 }
        do {
            let value = try body()
            try query("COMMIT")
            return value
        } catch {
            // A connection lost mid-transaction has rolled back by itself.
            _ = try? query("ROLLBACK")
            throw error
        }
    }
    private var depth = 0

    /// A transaction of the store's own statements: any error is the store's.
    func storeTransaction<T>(_ body: () throws -> T) throws(RunStoreError) -> T {
        do { return try transaction(body) } catch let error as RunStoreError { throw error } catch {
            throw .failed(path: url.description, reason: "\(error)")
        }
    }

    /// The server's own words when it gave some (the SQL state and message), else the client's.
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

/// Connection ids for PostgresNIO's log metadata.
private final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}
