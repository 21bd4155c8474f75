import Foundation
import GRDB

/// A candidate as a GRDB record, through `CandidateRecord`'s own Codable
/// form (column names are its coding keys), so the domain type needs no GRDB.
private struct CandidateRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "candidate"
    let record: CandidateRecord

    init(_ record: CandidateRecord) { self.record = record }
    init(from decoder: any Decoder) throws { record = try CandidateRecord(from: decoder) }
    func encode(to encoder: any Encoder) throws { try record.encode(to: encoder) }
}

/// A measurement as a GRDB record, the same way.
private struct MeasurementRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "measurement"
    let record: LatencyMeasurement

    init(_ record: LatencyMeasurement) { self.record = record }
    init(from decoder: any Decoder) throws { record = try LatencyMeasurement(from: decoder) }
    func encode(to encoder: any Encoder) throws { try record.encode(to: encoder) }
}

/// A run's store in one SQLite file (`Runs/<run>/run.sqlite`), WAL mode,
/// through GRDB: the embedded default, nothing to start.
public final class SQLiteRunStore: RunStore {
    public let path: String
    public var location: String { path }
    private let database: DatabasePool

    /// Opens (or with `create`, creates) a run database, checking its integrity.
    public init(path: String, create: Bool = false) throws(RunStoreError) {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        guard exists || create else { throw .missing(path: path) }
        do {
            if create {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
            }
            // `nas status` may read while the search writes; a writer waits rather than fails.
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            database = try DatabasePool(path: path, configuration: configuration)
            let check = try database.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else { throw RunStoreError.damaged(path: path, reason: check.joined(separator: "; ")) }
            try Self.migrator.migrate(database)
        } catch let error as RunStoreError {
            throw error
        } catch let error as DatabaseError where [ResultCode.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode.primaryResultCode) {
            throw .damaged(path: path, reason: error.message ?? "\(error)")
        } catch {
            // Permissions, a read-only or full disk, a locked file: the file may be fine.
            throw .unavailable(path: path, reason: (error as? DatabaseError)?.message ?? "\(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "config") { t in
                t.column("key", .text).primaryKey()
                t.column("value", .text).notNull()
            }
            try db.create(table: "candidate") { t in
                t.column("index", .integer).primaryKey()
                t.column("arch", .text).notNull()
                t.column("hash", .text).notNull().indexed()
                t.column("status", .text).notNull()
                t.column("val_accuracy", .double)
                t.column("latency_cpu_ms", .double)
                t.column("latency_vulkan_ms", .double)
                t.column("predicted_cpu_ms", .double)
                t.column("predicted_vulkan_ms", .double)
                t.column("fingerprint_cpu", .text)
                t.column("fingerprint_vulkan", .text)
                t.column("params", .integer).notNull()
                t.column("macs", .integer).notNull()
                t.column("reward", .double)
                t.column("train_seconds", .double)
                t.column("latency_seconds", .double)
                t.column("overhead_seconds", .double)
                t.column("error", .text)
                t.column("created_at", .datetime).notNull()
                t.column("finished_at", .datetime)
            }
            try db.create(table: "checkpoint") { t in
                t.column("step", .integer).primaryKey()
                t.column("controller", .blob).notNull()
                t.column("streams", .blob).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull()
                t.column("kind", .text).notNull()
                t.column("message", .text).notNull()
            }
        }
        // Runs made before keep working: the table is added when they are next opened.
        migrator.registerMigration("v2-measurements") { db in
            try db.create(table: "measurement") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("candidate", .integer).notNull().indexed()
                t.column("engine", .text).notNull()
                t.column("fingerprint", .text).notNull()
                t.column("purpose", .text).notNull()
                t.column("launch", .integer).notNull()
                t.column("at", .datetime).notNull()
                t.column("median_ms", .double).notNull()
                t.column("mad_ms", .double).notNull()
                t.column("p10_ms", .double).notNull()
                t.column("p90_ms", .double).notNull()
                t.column("runs", .integer).notNull()
                t.column("attempts", .integer).notNull()
                t.column("load_average", .double)
                t.column("thread_share", .double)
                t.column("others_busy", .double)
                t.column("disturbed", .boolean)
            }
        }
        // The size objective (weight precision as a search dimension); older rows keep NULL.
        migrator.registerMigration("v3-weight-bytes") { db in
            try db.alter(table: "candidate") { t in t.add(column: "weight_bytes", .integer) }
        }
        return migrator
    }

    private func write<T>(_ body: (Database) throws -> T) throws(RunStoreError) -> T {
        do { return try database.write(body) } catch { throw .failed(path: path, reason: "\(error)") }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(RunStoreError) -> T {
        do { return try database.read(body) } catch { throw .failed(path: path, reason: "\(error)") }
    }

    // MARK: Configuration

    public func setConfiguration(_ values: [String: String]) throws(RunStoreError) {
        try write { db in
            for (key, value) in values {
                try db.execute(sql: "INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)", arguments: [key, value])
            }
        }
    }

    public func configuration() throws(RunStoreError) -> [String: String] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT key, value FROM config").map {
                (($0["key"] as String), ($0["value"] as String))
            })
        }
    }

    // MARK: Candidates

    /// Inserts or replaces a candidate, in one transaction.
    public func save(_ candidate: CandidateRecord) throws(RunStoreError) {
        try write { db in try CandidateRow(candidate).save(db) }
    }

    public func candidates() throws(RunStoreError) -> [CandidateRecord] {
        try read { db in try CandidateRow.order(Column("index")).fetchAll(db).map(\.record) }
    }

    /// A finished result for the same architecture, to reuse instead of training again.
    public func finished(hash: String) throws(RunStoreError) -> CandidateRecord? {
        try read { db in
            try CandidateRow.filter(Column("hash") == hash && Column("status") == CandidateRecord.Status.done.rawValue)
                .order(Column("index")).fetchOne(db)?.record
        }
    }

    // MARK: Checkpoints

    /// Saves a checkpoint together with the candidate that completes its step,
    /// in one transaction: the two never disagree after a crash.
    public func commit(_ candidate: CandidateRecord?, checkpoint: Checkpoint) throws(RunStoreError) {
        let event = candidate.map { CommitEvent($0, checkpoint: checkpoint) }
        try write { db in
            try candidate.map(CandidateRow.init)?.save(db)
            if let event {
                try db.execute(sql: "INSERT INTO event (at, kind, message) VALUES (?, ?, ?)",
                               arguments: [Date(), event.kind, event.message])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO checkpoint (step, controller, streams, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [checkpoint.step, checkpoint.controller, checkpoint.streams, Date()])
            try db.execute(sql: "DELETE FROM checkpoint WHERE step <= ?", arguments: [checkpoint.step - checkpointsKept])
        }
    }

    public func latestCheckpoint() throws(RunStoreError) -> Checkpoint? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT step, controller, streams FROM checkpoint ORDER BY step DESC LIMIT 1").map {
                Checkpoint(step: $0["step"], controller: $0["controller"], streams: $0["streams"])
            }
        }
    }

    /// The steps of the checkpoints kept, oldest first.
    public func checkpointSteps() throws(RunStoreError) -> [Int] {
        try read { db in try Int.fetchAll(db, sql: "SELECT step FROM checkpoint ORDER BY step") }
    }

    // MARK: Measurements

    public func remeasured(_ candidates: [CandidateRecord], measurements: [LatencyMeasurement], event: String) throws(RunStoreError) {
        try write { db in
            for candidate in candidates { try CandidateRow(candidate).save(db) }
            for measurement in measurements { try MeasurementRow(measurement).insert(db) }
            try db.execute(sql: "INSERT INTO event (at, kind, message) VALUES (?, ?, ?)", arguments: [Date(), "remeasured", event])
        }
    }

    public func measurements() throws(RunStoreError) -> [LatencyMeasurement] {
        try read { db in try MeasurementRow.order(Column("id")).fetchAll(db).map(\.record) }
    }

    public func remeasuredCandidates(purpose: String?) throws(RunStoreError) -> Set<Int> {
        try read { db in
            Set(try Int.fetchAll(db, sql: "SELECT DISTINCT candidate FROM measurement WHERE ? IS NULL OR purpose = ?",
                                 arguments: [purpose, purpose]))
        }
    }

    // MARK: Events

    public func log(_ kind: String, _ message: String) throws(RunStoreError) {
        try write { db in
            try db.execute(sql: "INSERT INTO event (at, kind, message) VALUES (?, ?, ?)", arguments: [Date(), kind, message])
        }
    }

    public func events(after id: Int) throws(RunStoreError) -> [RunEvent] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, at, kind, message FROM event WHERE id > ? ORDER BY id", arguments: [id]).map {
                RunEvent(id: $0["id"], at: $0["at"], kind: $0["kind"], message: $0["message"])
            }
        }
    }
}

