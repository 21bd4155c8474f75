public import Core
import Foundation
import GRDB

/// The latency table in SQLite: operator measurements, whole-network
/// measurements and fitted corrections, each keyed by device fingerprint so
/// figures from different engines or machines never mix. Every measurement
/// is its own transaction: a build killed half way keeps what it measured.
public final class LatencyStore {
    private let database: DatabaseQueue
    public let path: String

    public init(path: String) throws(LatencyStoreError) {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            // Several searches may share one runs folder's table: wait for a
            // concurrent writer instead of failing with SQLITE_BUSY.
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch let error as DatabaseError where [ResultCode.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode.primaryResultCode) {
            throw LatencyStoreError.damaged(path: path, reason: error.message ?? "\(error)")
        } catch {
            throw LatencyStoreError.unavailable(path: path, reason: (error as? DatabaseError)?.message ?? "\(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "operator") { t in
                t.column("fingerprint", .text).notNull()
                t.column("key", .text).notNull()
                t.column("median_ms", .double).notNull()
                t.column("mad_ms", .double).notNull()
                t.column("runs", .integer).notNull()
                t.column("measured_at", .datetime).notNull()
                t.primaryKey(["fingerprint", "key"])
            }
            try db.create(table: "network") { t in
                t.column("fingerprint", .text).notNull()
                t.column("arch", .text).notNull()
                t.column("median_ms", .double).notNull()
                t.column("mad_ms", .double).notNull()
                t.column("measured_at", .datetime).notNull()
                t.primaryKey(["fingerprint", "arch"])
            }
            try db.create(table: "correction") { t in
                t.column("fingerprint", .text).primaryKey()
                t.column("coefficients", .text).notNull()
                t.column("networks", .integer).notNull()
                t.column("fitted_at", .datetime).notNull()
            }
            try db.create(table: "device") { t in
                t.column("fingerprint", .text).primaryKey()
                t.column("description", .text).notNull()
            }
        }
        return migrator
    }

    public func register(_ device: DeviceFingerprint) throws {
        let text = String(decoding: try JSONEncoder().encode(device), as: UTF8.self)
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO device (fingerprint, description) VALUES (?, ?)",
                           arguments: [device.id, text])
        }
    }

    public func operatorLatency(_ key: String, device: DeviceFingerprint) throws -> Double? {
        try database.read { db in
            try Double.fetchOne(db, sql: "SELECT median_ms FROM operator WHERE fingerprint = ? AND key = ?",
                                arguments: [device.id, key])
        }
    }

    public func recordOperator(_ key: String, device: DeviceFingerprint, sample: LatencySample) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO operator (fingerprint, key, median_ms, mad_ms, runs, measured_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [device.id, key, sample.medianMilliseconds, sample.madMilliseconds, sample.runs, Date()])
        }
    }

    public func networkLatency(_ arch: String, device: DeviceFingerprint) throws -> Double? {
        try database.read { db in
            try Double.fetchOne(db, sql: "SELECT median_ms FROM network WHERE fingerprint = ? AND arch = ?",
                                arguments: [device.id, arch])
        }
    }

    public func recordNetwork(_ arch: String, device: DeviceFingerprint, sample: LatencySample) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO network (fingerprint, arch, median_ms, mad_ms, measured_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [device.id, arch, sample.medianMilliseconds, sample.madMilliseconds, Date()])
        }
    }

    /// Every measured network of a device.
    public func networks(device: DeviceFingerprint) throws -> [(arch: String, medianMilliseconds: Double)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT arch, median_ms FROM network WHERE fingerprint = ? ORDER BY arch",
                             arguments: [device.id]).map { ($0["arch"], $0["median_ms"]) }
        }
    }

    public func operatorCount(device: DeviceFingerprint) throws -> Int {
        try database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM operator WHERE fingerprint = ?", arguments: [device.id]) ?? 0
        }
    }

    public func correction(device: DeviceFingerprint) throws -> [Double]? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT coefficients FROM correction WHERE fingerprint = ?", arguments: [device.id])
        }.flatMap { try? JSONDecoder().decode([Double].self, from: Data($0.utf8)) }
    }

    public func recordCorrection(_ coefficients: [Double], networks: Int, device: DeviceFingerprint) throws {
        let text = String(decoding: try JSONEncoder().encode(coefficients), as: UTF8.self)
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO correction (fingerprint, coefficients, networks, fitted_at) VALUES (?, ?, ?, ?)",
                           arguments: [device.id, text, networks, Date()])
        }
    }
}

public enum LatencyStoreError: ClassifiedError {
    case damaged(path: String, reason: String)
    /// The file could not be opened or created, though it may be sound.
    case unavailable(path: String, reason: String)
    case noCorrection(device: String)

    public var kind: ErrorKind {
        switch self {
        case .damaged: return .damaged
        case .unavailable: return .environment
        case .noCorrection: return .notFound
        }
    }

    public var description: String {
        switch self {
        case let .damaged(path, reason):
            return "\(path) is not a usable latency table (\(reason)); move it aside and rebuild it with `nas latency table build`"
        case let .unavailable(path, reason):
            return "the latency table \(path) cannot be opened (\(reason)); check that its folder is writable, or give another with --db"
        case let .noCorrection(device):
            return "no fitted latency model for \(device) yet; run `nas latency table build --space FILE --engine E` first"
        }
    }
}
