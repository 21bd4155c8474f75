import Foundation
import GRDB

/// One candidate of a run, as stored.
public struct CandidateRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public enum Status: String, Codable, Sendable { case queued, training, done, failed }

    public static let databaseTableName = "candidate"

    public var index: Int
    public var arch: String
    public var hash: String
    public var status: Status
    public var valAccuracy: Double?
    public var latencyCPUMs: Double?
    public var latencyVulkanMs: Double?
    public var predictedCPUMs: Double?
    public var predictedVulkanMs: Double?
    public var fingerprintCPU: String?
    public var fingerprintVulkan: String?
    public var params: Int
    public var macs: Int
    public var reward: Double?
    public var trainSeconds: Double?
    /// Time spent measuring or predicting latency.
    public var latencySeconds: Double?
    /// Controller, store and checkpoint time of this step (the previous
    /// step's commit included, as it is only known afterwards).
    public var overheadSeconds: Double?
    public var error: String?
    public var createdAt: Date
    public var finishedAt: Date?

    public init(index: Int, arch: String, hash: String, params: Int, macs: Int, createdAt: Date = Date()) {
        self.index = index
        self.arch = arch
        self.hash = hash
        self.status = .queued
        self.params = params
        self.macs = macs
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case index, arch, hash, status, params, macs, reward, error
        case valAccuracy = "val_accuracy", latencyCPUMs = "latency_cpu_ms", latencyVulkanMs = "latency_vulkan_ms"
        case predictedCPUMs = "predicted_cpu_ms", predictedVulkanMs = "predicted_vulkan_ms"
        case fingerprintCPU = "fingerprint_cpu", fingerprintVulkan = "fingerprint_vulkan"
        case trainSeconds = "train_seconds", createdAt = "created_at", finishedAt = "finished_at"
        case latencySeconds = "latency_seconds", overheadSeconds = "overhead_seconds"
    }
}

/// The engines a candidate's latency is stored for.
public enum LatencyEngineName: String, Codable, Sendable, CaseIterable { case cpu, vulkan }

extension CandidateRecord {
    /// The latency on `engine`: measured when it was, else predicted.
    public func latency(on engine: LatencyEngineName) -> Double? {
        switch engine {
        case .cpu: return latencyCPUMs ?? predictedCPUMs
        case .vulkan: return latencyVulkanMs ?? predictedVulkanMs
        }
    }

    /// Records a latency figure on `engine` with the device it came from.
    public mutating func record(latency: Double, on engine: LatencyEngineName, predicted: Bool, fingerprint: String) {
        switch (engine, predicted) {
        case (.cpu, false): latencyCPUMs = latency
        case (.cpu, true): predictedCPUMs = latency
        case (.vulkan, false): latencyVulkanMs = latency
        case (.vulkan, true): predictedVulkanMs = latency
        }
        switch engine {
        case .cpu: fingerprintCPU = fingerprint
        case .vulkan: fingerprintVulkan = fingerprint
        }
    }

    /// Takes the objectives of an earlier evaluation of the same architecture.
    public mutating func reuse(_ earlier: CandidateRecord) {
        valAccuracy = earlier.valAccuracy
        latencyCPUMs = earlier.latencyCPUMs
        latencyVulkanMs = earlier.latencyVulkanMs
        predictedCPUMs = earlier.predictedCPUMs
        predictedVulkanMs = earlier.predictedVulkanMs
        fingerprintCPU = earlier.fingerprintCPU
        fingerprintVulkan = earlier.fingerprintVulkan
        trainSeconds = 0
        status = .done
    }
}

/// A controller checkpoint: everything needed to continue after `step` candidates.
public struct Checkpoint: Sendable, Equatable {
    public var step: Int
    /// The controller's serialised state (its random stream included).
    public var controller: Data
    /// Every other random stream's state, serialised.
    public var streams: Data

    public init(step: Int, controller: Data, streams: Data) {
        self.step = step
        self.controller = controller
        self.streams = streams
    }
}

/// One run's database: `Runs/<run>/run.sqlite`, SQLite in WAL mode through
/// GRDB. It holds the run's configuration, every candidate, controller
/// checkpoints and an event log; every state change is one transaction, so a
/// run killed at any instant (kill -9 included) loses nothing committed.
public final class RunStore {
    public let path: String
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
        } catch let error as DatabaseError {
            throw .damaged(path: path, reason: error.message ?? "\(error)")
        } catch {
            throw .damaged(path: path, reason: "\(error)")
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
        try write { db in try candidate.save(db) }
    }

    public func candidates() throws(RunStoreError) -> [CandidateRecord] {
        try read { db in try CandidateRecord.order(Column("index")).fetchAll(db) }
    }

    /// A finished result for the same architecture, to reuse instead of training again.
    public func finished(hash: String) throws(RunStoreError) -> CandidateRecord? {
        try read { db in
            try CandidateRecord.filter(Column("hash") == hash && Column("status") == CandidateRecord.Status.done.rawValue)
                .order(Column("index")).fetchOne(db)
        }
    }

    // MARK: Checkpoints

    /// Saves a checkpoint together with the candidate that completes its step,
    /// in one transaction: the two never disagree after a crash.
    public func commit(_ candidate: CandidateRecord?, checkpoint: Checkpoint) throws(RunStoreError) {
        try write { db in
            try candidate?.save(db)
            try db.execute(sql: "INSERT OR REPLACE INTO checkpoint (step, controller, streams, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [checkpoint.step, checkpoint.controller, checkpoint.streams, Date()])
            // Resuming needs the latest checkpoint only; the few before it stay for
            // inspection. Keeping all would grow the file by the controller's
            // state (an RL policy's weights and moments) every candidate.
            try db.execute(sql: "DELETE FROM checkpoint WHERE step <= ?", arguments: [checkpoint.step - Self.checkpointsKept])
        }
    }

    /// How many of the latest checkpoints a run keeps.
    public static let checkpointsKept = 3

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

    // MARK: Events

    public func log(_ kind: String, _ message: String) throws(RunStoreError) {
        try write { db in
            try db.execute(sql: "INSERT INTO event (at, kind, message) VALUES (?, ?, ?)", arguments: [Date(), kind, message])
        }
    }

    public func events() throws(RunStoreError) -> [(kind: String, message: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT kind, message FROM event ORDER BY id").map { ($0["kind"], $0["message"]) }
        }
    }
}

public enum RunStoreError: Error, CustomStringConvertible {
    case missing(path: String)
    case damaged(path: String, reason: String)
    case failed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missing(path):
            return "\(path) does not exist: no run there; list runs with `nas runs`"
        case let .damaged(path, reason):
            return "\(path) is damaged (\(reason)); it was not used. Restore it from a backup or start a new run; the damaged file is left in place for inspection"
        case let .failed(path, reason):
            return "\(path): \(reason)"
        }
    }
}
