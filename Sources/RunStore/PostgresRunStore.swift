import Foundation
import PostgresNIO

/// A run's store on a PostgreSQL server: the same tables and migrations as
/// `SQLiteRunStore`, in a schema of its own (`nasd_run_<id>`), listed by name
/// in the database's `nasd_runs` table. Any number of processes on any
/// machines open the same run: the coordinator that owns its controller, and
/// the workers that claim its candidates from the queue (`WorkQueue`).
/// Every method is one transaction, as with SQLite.
public final class PostgresRunStore: RunStore, @unchecked Sendable {
    public let name: String
    let schema: String
    let session: PostgresSession
    public var location: String { "run \(name) in \(session.url)" }

    /// Opens the run `name` in the database at `url`.
    public init(url: PostgresURL, name: String) throws(RunStoreError) {
        session = try PostgresSession(url)
        self.name = name
        try Self.prepareRegistry(session)
        let rows = try session.query("SELECT schema FROM nasd_runs WHERE name = \(name)")
        guard let row = rows.first, let schema = try? row.decode(String.self) else {
            throw .missing(path: "run \(name) in \(url)")
        }
        self.schema = schema
        try session.storeTransaction { try Self.migrate(session, schema: schema) }
        try session.use(schema: schema)
    }

    private init(session: PostgresSession, name: String, schema: String) {
        self.session = session
        self.name = name
        self.schema = schema
    }

    /// Creates the run `name` and lets `initialise` write its first records,
    /// all in one transaction (PostgreSQL's DDL is transactional): a run exists
    /// whole or not at all. Nil when a run of that name exists.
    public static func create(url: PostgresURL, name: String,
                              initialise: (PostgresRunStore) throws -> Void) throws -> PostgresRunStore? {
        let session = try PostgresSession(url)
        try prepareRegistry(session)
        let store = try session.transaction { () throws -> PostgresRunStore? in
            // Two creations of one name serialise here; the second finds the first's row.
            try session.query("SELECT pg_advisory_xact_lock(\(registryLock))")
            guard try session.query("SELECT 1 FROM nasd_runs WHERE name = \(name)").isEmpty else { return nil }
            let id = try session.query("SELECT nextval('nasd_run_ids')").first?.decode(Int.self) ?? 0
            let schema = "nasd_run_\(id)"
            try session.query("CREATE SCHEMA \(unescaped: schema)")
            try migrate(session, schema: schema)
            try session.query("INSERT INTO nasd_runs (name, schema, created_at) VALUES (\(name), \(schema), now())")
            let store = PostgresRunStore(session: session, name: name, schema: schema)
            try initialise(store)
            return store
        }
        if let store { try session.use(schema: store.schema) }
        return store
    }

    /// Makes this store's connection the run's one coordinator, for as long
    /// as the connection lasts (a session advisory lock, which the server
    /// releases when the process ends, killed or not): false when another
    /// process drives the run. Two controllers committing to one run would
    /// break it.
    public func becomeCoordinator() throws(RunStoreError) -> Bool {
        // The run's schema number, offset from the registry's own lock.
        let key = Self.registryLock + 1 + (Int(schema.dropFirst("nasd_run_".count)) ?? 0)
        return try session.storeTransaction {
            try session.query("SELECT pg_try_advisory_lock(\(key))").first?.decode(Bool.self) ?? false
        }
    }

    /// Removes the run `name` and everything of it (benchmarks' throwaway runs).
    public static func drop(url: PostgresURL, name: String) throws(RunStoreError) {
        let session = try PostgresSession(url)
        try prepareRegistry(session)
        try session.storeTransaction {
            guard let schema = try session.query("DELETE FROM nasd_runs WHERE name = \(name) RETURNING schema").first?.decode(String.self) else { return }
            try session.query("DROP SCHEMA \(unescaped: schema) CASCADE")
        }
    }

    /// The runs in the database at `url`, by name.
    public static func names(url: PostgresURL) throws(RunStoreError) -> [String] {
        let session = try PostgresSession(url)
        try prepareRegistry(session)
        return try names(session)
    }

    /// The runs, by name, on a connection already open (a worker's, polled often).
    static func names(_ session: PostgresSession) throws(RunStoreError) -> [String] {
        try session.query("SELECT name FROM nasd_runs ORDER BY name").compactMap { try? $0.decode(String.self) }
    }

    /// Any constant shared by every nasd process: the advisory lock that makes
    /// creating the registry and a run's schema one at a time.
    static let registryLock = 0x6E61_7364

    /// The database-wide tables: the run registry and the workers' roll.
    static func prepareRegistry(_ session: PostgresSession) throws(RunStoreError) {
        try session.storeTransaction {
            try session.query("SELECT pg_advisory_xact_lock(\(registryLock))")
            try session.query("CREATE SEQUENCE IF NOT EXISTS nasd_run_ids")
            try session.query("""
                CREATE TABLE IF NOT EXISTS nasd_runs (name text PRIMARY KEY, schema text UNIQUE NOT NULL, created_at timestamptz NOT NULL)
                """)
            try session.query("""
                CREATE TABLE IF NOT EXISTS nasd_workers (id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL,
                    threads integer NOT NULL, started_at timestamptz NOT NULL, seen_at timestamptz NOT NULL,
                    run text, candidate integer, finished integer NOT NULL DEFAULT 0, failed integer NOT NULL DEFAULT 0,
                    discarded integer NOT NULL DEFAULT 0, busy_seconds double precision NOT NULL DEFAULT 0, stopped_at timestamptz)
                """)
        }
    }

    /// The migrations of `SQLiteRunStore` with the same names and columns, then
    /// the workers' queue, which only a shared server needs.
    private static let migrations: [(String, [String])] = [
        ("v1", [
            "CREATE TABLE config (key text PRIMARY KEY, value text NOT NULL)",
            """
            CREATE TABLE candidate ("index" integer PRIMARY KEY, arch text NOT NULL, hash text NOT NULL, status text NOT NULL,
                val_accuracy double precision, latency_cpu_ms double precision, latency_vulkan_ms double precision,
                predicted_cpu_ms double precision, predicted_vulkan_ms double precision, fingerprint_cpu text, fingerprint_vulkan text,
                params bigint NOT NULL, macs bigint NOT NULL, reward double precision, train_seconds double precision,
                latency_seconds double precision, overhead_seconds double precision, error text,
                created_at timestamptz NOT NULL, finished_at timestamptz)
            """,
            "CREATE INDEX ON candidate (hash)",
            "CREATE TABLE checkpoint (step integer PRIMARY KEY, controller bytea NOT NULL, streams bytea NOT NULL, created_at timestamptz NOT NULL)",
            "CREATE TABLE event (id bigserial PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, message text NOT NULL)",
        ]),
        ("v2-measurements", [
            """
            CREATE TABLE measurement (id bigserial PRIMARY KEY, candidate integer NOT NULL, engine text NOT NULL,
                fingerprint text NOT NULL, purpose text NOT NULL, launch integer NOT NULL, at timestamptz NOT NULL,
                median_ms double precision NOT NULL, mad_ms double precision NOT NULL, p10_ms double precision NOT NULL,
                p90_ms double precision NOT NULL, runs integer NOT NULL, attempts integer NOT NULL,
                load_average double precision, thread_share double precision, others_busy double precision, disturbed boolean)
            """,
            "CREATE INDEX ON measurement (candidate)",
        ]),
        ("v3-weight-bytes", ["ALTER TABLE candidate ADD COLUMN weight_bytes bigint"]),
        // A candidate waiting for, or held by, a worker: `attempts` counts the claims and is
        // the lease's token, so a result from an expired claim is told apart and discarded;
        // `trainer`, the worker that trained it on other devices than the run's.
        ("v4-queue", [
            """
            CREATE TABLE queue ("index" integer PRIMARY KEY, record text NOT NULL, state text NOT NULL, worker text, trainer text,
                attempts integer NOT NULL DEFAULT 0, lease_until timestamptz, progress text, result text,
                queued_at timestamptz NOT NULL, claimed_at timestamptz, finished_at timestamptz)
            """,
        ]),
    ]

    private static func migrate(_ session: PostgresSession, schema: String) throws(RunStoreError) {
        // Workers opening a run that a newer build must migrate take turns.
        try session.query("SELECT pg_advisory_xact_lock(\(registryLock))")
        try session.query("SET LOCAL search_path TO \(unescaped: schema), public")
        try session.query("CREATE TABLE IF NOT EXISTS nasd_migrations (identifier text PRIMARY KEY)")
        let done = Set(try session.query("SELECT identifier FROM nasd_migrations").compactMap { try? $0.decode(String.self) })
        for (identifier, statements) in migrations where !done.contains(identifier) {
            for statement in statements { try session.query(PostgresQuery(unsafeSQL: statement)) }
            try session.query("INSERT INTO nasd_migrations (identifier) VALUES (\(identifier))")
        }
    }

    /// Runs `body` in one transaction (the connection's search path is the run's schema).
    @discardableResult
    func transaction<T>(_ body: () throws -> T) throws(RunStoreError) -> T { try session.storeTransaction(body) }

    /// Runs one statement's `body`: atomic by itself, so no transaction's round trips.
    func statement<T>(_ body: () throws -> T) throws(RunStoreError) -> T { try session.statement(body) }

    // MARK: Records as JSON, mapped to columns by name on the server

    /// Timestamps as ISO 8601 with milliseconds; the server's row_to_json writes
    /// microseconds and an offset (…27.123456+00:00), which the same style reads.
    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            // The formatter truncates to the millisecond, and a parsed ".123" is
            // often a hair under it, which would write back as ".122": a record
            // read and written again would change. So the nearest millisecond
            // is written from a quarter of one above it.
            let milliseconds = (date.timeIntervalSinceReferenceDate * 1000).rounded()
            var container = encoder.singleValueContainer()
            try container.encode(Date(timeIntervalSinceReferenceDate: (milliseconds + 0.25) / 1000).formatted(timestamp))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in try timestamp.parse(try decoder.singleValueContainer().decode(String.self)) }
        return decoder
    }()

    static func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try decoder.decode(type, from: Data(text.utf8)) }

    private func rows<T: Decodable>(_ type: T.Type, _ sql: String) throws(RunStoreError) -> [T] {
        try statement {
            try session.query(PostgresQuery(unsafeSQL: sql)).map { try Self.decode(T.self, try $0.decode(String.self)) }
        }
    }

    func saveCandidate(_ candidate: CandidateRecord) throws {
        try session.query("DELETE FROM candidate WHERE \"index\" = \(candidate.index)")
        try session.query("INSERT INTO candidate SELECT * FROM jsonb_populate_record(NULL::candidate, \(try Self.json(candidate))::jsonb)")
    }

    private func insertEvent(_ kind: String, _ message: String) throws {
        try session.query("INSERT INTO event (at, kind, message) VALUES (now(), \(kind), \(message))")
    }

    // MARK: RunStore

    public func setConfiguration(_ values: [String: String]) throws(RunStoreError) {
        try transaction {
            for (key, value) in values {
                try session.query("INSERT INTO config (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
            }
        }
    }

    public func configuration() throws(RunStoreError) -> [String: String] {
        try statement {
            Dictionary(try session.query("SELECT key, value FROM config").map { try $0.decode((String, String).self) },
                       uniquingKeysWith: { a, _ in a })
        }
    }

    public func save(_ candidate: CandidateRecord) throws(RunStoreError) {
        try transaction { try saveCandidate(candidate) }
    }

    public func candidates() throws(RunStoreError) -> [CandidateRecord] {
        try rows(CandidateRecord.self, "SELECT row_to_json(c)::text FROM candidate c ORDER BY \"index\"")
    }

    public func finished(hash: String) throws(RunStoreError) -> CandidateRecord? {
        try statement {
            try session.query("SELECT row_to_json(c)::text FROM candidate c WHERE hash = \(hash) AND status = 'done' ORDER BY \"index\" LIMIT 1")
                .first.map { try Self.decode(CandidateRecord.self, try $0.decode(String.self)) }
        }
    }

    public func commit(_ candidate: CandidateRecord?, checkpoint: Checkpoint) throws(RunStoreError) {
        try transaction {
            if let candidate {
                try saveCandidate(candidate)
                let event = CommitEvent(candidate, checkpoint: checkpoint)
                try insertEvent(event.kind, event.message)
            }
            try session.query("""
                INSERT INTO checkpoint (step, controller, streams, created_at) VALUES (\(checkpoint.step), \(checkpoint.controller), \(checkpoint.streams), now())
                ON CONFLICT (step) DO UPDATE SET controller = EXCLUDED.controller, streams = EXCLUDED.streams, created_at = EXCLUDED.created_at
                """)
            try session.query("DELETE FROM checkpoint WHERE step <= \(checkpoint.step - checkpointsKept)")
        }
    }

    public func latestCheckpoint() throws(RunStoreError) -> Checkpoint? {
        try statement {
            try session.query("SELECT step, controller, streams FROM checkpoint ORDER BY step DESC LIMIT 1").first.map {
                let (step, controller, streams) = try $0.decode((Int, Data, Data).self)
                return Checkpoint(step: step, controller: controller, streams: streams)
            }
        }
    }

    public func checkpointSteps() throws(RunStoreError) -> [Int] {
        try statement { try session.query("SELECT step FROM checkpoint ORDER BY step").map { try $0.decode(Int.self) } }
    }

    private static let measurementColumns = """
        candidate, engine, fingerprint, purpose, launch, at, median_ms, mad_ms, p10_ms, p90_ms, runs, attempts, load_average, thread_share, others_busy, disturbed
        """

    public func remeasured(_ candidates: [CandidateRecord], measurements: [LatencyMeasurement], event: String) throws(RunStoreError) {
        try transaction {
            for candidate in candidates { try saveCandidate(candidate) }
            for measurement in measurements {
                try session.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO measurement (\(Self.measurementColumns))
                    SELECT \(Self.measurementColumns) FROM jsonb_populate_record(NULL::measurement, $1::jsonb)
                    """, binds: { var binds = PostgresBindings(); binds.append(try Self.json(measurement)); return binds }()))
            }
            try insertEvent("remeasured", event)
        }
    }

    public func measurements() throws(RunStoreError) -> [LatencyMeasurement] {
        try rows(LatencyMeasurement.self, "SELECT row_to_json(m)::text FROM measurement m ORDER BY id")
    }

    public func remeasuredCandidates(purpose: String?) throws(RunStoreError) -> Set<Int> {
        try statement {
            Set(try session.query("SELECT DISTINCT candidate FROM measurement WHERE \(purpose)::text IS NULL OR purpose = \(purpose)")
                .map { try $0.decode(Int.self) })
        }
    }

    public func log(_ kind: String, _ message: String) throws(RunStoreError) {
        try statement { try insertEvent(kind, message) }
    }

    public func events(after id: Int) throws(RunStoreError) -> [RunEvent] {
        try statement {
            try session.query("SELECT id, at, kind, message FROM event WHERE id > \(id) ORDER BY id").map {
                let (id, at, kind, message) = try $0.decode((Int, Date, String, String).self)
                return RunEvent(id: id, at: at, kind: kind, message: message)
            }
        }
    }
}
