public import Core
import Foundation
import PostgresNIO

/// Claims of one candidate after which it is no longer handed out: every
/// worker that took it was lost (killed, out of memory, its machine gone),
/// and the coordinator records it as failed rather than wait for ever.
public let maximumClaims = 10

extension PostgresRunStore: WorkQueue {
    public func enqueue(_ candidate: CandidateRecord) throws(RunStoreError) {
        try statement {
            let record = try Self.json(candidate)
            try session.query("""
                INSERT INTO queue ("index", record, state, queued_at) VALUES (\(candidate.index), \(record), 'queued', now())
                ON CONFLICT ("index") DO UPDATE SET record = EXCLUDED.record, state = 'queued', worker = NULL,
                    lease_until = NULL, progress = NULL, result = NULL, trainer = NULL, queued_at = now()
                WHERE queue.record::jsonb ->> 'arch' IS DISTINCT FROM \(candidate.arch)
                """)
        }
    }

    public func queued(_ index: Int) throws(RunStoreError) -> QueueEntry? {
        try statement {
            try session.query("SELECT state, worker, attempts, progress, result FROM queue WHERE \"index\" = \(index)").first.map {
                let (state, worker, attempts, progress, result) = try $0.decode((String, String?, Int, String?, String?).self)
                return QueueEntry(state: QueueEntry.State(rawValue: state) ?? .queued, worker: worker, attempts: attempts,
                                  progress: try progress.map { try Self.decode(TrainingProgress.self, $0) },
                                  result: try result.map { try Self.decode(CandidateRecord.self, $0) })
            }
        }
    }

    /// The rows a claim may take: queued or abandoned training (within the
    /// claims allowed) and, for a worker on the run's devices, latency to measure.
    private static func claimable(measures: Bool) -> String {
        """
        (attempts < \(maximumClaims) AND (state = 'queued' OR (state = 'claimed' AND lease_until < now())))
        OR (\(measures) AND (state = 'trained' OR (state = 'measuring' AND lease_until < now())))
        """
    }

    public func hasClaimable(measures: Bool) throws(RunStoreError) -> Bool {
        try statement {
            try session.query("SELECT EXISTS (SELECT 1 FROM queue WHERE \(unescaped: Self.claimable(measures: measures)))")
                .first?.decode(Bool.self) ?? false
        }
    }

    public func claim(worker: String, leaseSeconds: Double, measures: Bool) throws(RunStoreError) -> QueueClaim? {
        try transaction { () throws -> QueueClaim? in
            // SKIP LOCKED: workers claiming at once each take a different row instead of
            // waiting for one another; the lowest index first, since results are consumed in order.
            guard let row = try session.query("""
                UPDATE queue SET state = CASE WHEN state IN ('trained', 'measuring') THEN 'measuring' ELSE 'claimed' END,
                    worker = \(worker), attempts = attempts + 1, progress = NULL,
                    lease_until = now() + \(leaseSeconds) * interval '1 second', claimed_at = now()
                WHERE "index" = (SELECT "index" FROM queue WHERE \(unescaped: Self.claimable(measures: measures))
                                 ORDER BY "index" LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING record, attempts, state, result
                """).first else { return nil }
            let (record, attempt, state, trained) = try row.decode((String, Int, String, String?).self)
            if state == "measuring", let trained {
                return QueueClaim(candidate: try Self.decode(CandidateRecord.self, trained), attempt: attempt, work: .measure)
            }
            var candidate = try Self.decode(CandidateRecord.self, record)
            candidate.status = .training
            // Unless the coordinator committed it meanwhile (a reclaim of a result already in).
            if try session.query("SELECT 1 FROM candidate WHERE \"index\" = \(candidate.index) AND status IN ('done', 'failed')").isEmpty {
                try saveCandidate(candidate)
            }
            return QueueClaim(candidate: candidate, attempt: attempt)
        }
    }

    public func renew(_ claim: QueueClaim, leaseSeconds: Double, progress: TrainingProgress?) throws(RunStoreError) -> Bool {
        try transaction {
            let progress = try progress.map { try Self.json($0) }
            guard let worker = try session.query("""
                UPDATE queue SET lease_until = now() + \(leaseSeconds) * interval '1 second', progress = COALESCE(\(progress), progress)
                WHERE "index" = \(claim.candidate.index) AND attempts = \(claim.attempt) AND state IN ('claimed', 'measuring')
                    AND lease_until >= now()
                RETURNING worker
                """).first?.decode(String?.self) else { return false }
            // The roll's sign of life, while the worker is busy training.
            try session.query("UPDATE nasd_workers SET seen_at = now() WHERE id = \(worker)")
            return true
        }
    }

    public func complete(_ claim: QueueClaim, result: CandidateRecord) throws(RunStoreError) -> Bool {
        try transaction {
            let trainedOnly = claim.work == .train && result.status == .training
            return try !session.query("""
                UPDATE queue SET state = \(trainedOnly ? "trained" : "done"), result = \(try Self.json(result)),
                    trainer = CASE WHEN \(trainedOnly) THEN worker ELSE trainer END,
                    finished_at = now(), progress = NULL, lease_until = NULL
                WHERE "index" = \(claim.candidate.index) AND attempts = \(claim.attempt) AND state IN ('claimed', 'measuring')
                    AND lease_until >= now()
                RETURNING "index"
                """).isEmpty
        }
    }

    public func release(_ claim: QueueClaim) throws(RunStoreError) {
        try statement {
            try session.query("""
                UPDATE queue SET state = CASE WHEN state = 'measuring' THEN 'trained' ELSE 'queued' END,
                    worker = NULL, lease_until = NULL, progress = NULL
                WHERE "index" = \(claim.candidate.index) AND attempts = \(claim.attempt) AND state IN ('claimed', 'measuring')
                """)
        }
    }
}

extension PostgresRunStore {
    public func queueSummary() throws(RunStoreError) -> QueueSummary {
        try statement {
            let row = try session.query("""
                SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state IN ('claimed', 'measuring')),
                       count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'trained'),
                       count(*) FILTER (WHERE trainer IS NOT NULL AND state = 'done'),
                       COALESCE(sum(attempts), 0)::bigint,
                       count(*) FILTER (WHERE attempts > CASE WHEN trainer IS NULL THEN 1 ELSE 2 END)
                FROM queue
                """).first
            let (queued, claimed, done, trained, elsewhere, claims, reissued) = try row?.decode((Int, Int, Int, Int, Int, Int, Int).self)
                ?? (0, 0, 0, 0, 0, 0, 0)
            return QueueSummary(queued: queued, claimed: claimed, done: done, awaitingLatency: trained, trainedElsewhere: elsewhere,
                                claims: claims, reissued: reissued)
        }
    }

    public func leases() throws(RunStoreError) -> [QueueLease] {
        try statement {
            try session.query("""
                SELECT "index", worker, attempts, EXTRACT(EPOCH FROM lease_until - now())::float8, progress
                FROM queue WHERE state IN ('claimed', 'measuring') ORDER BY "index"
                """).map {
                let (index, worker, attempt, left, progress) = try $0.decode((Int, String?, Int, Double?, String?).self)
                return QueueLease(index: index, worker: worker ?? "-", attempt: attempt, secondsLeft: left ?? 0,
                                  progress: try progress.map { try Self.decode(TrainingProgress.self, $0) })
            }
        }
    }

    public func workers() throws(RunStoreError) -> [WorkerRecord] {
        try PostgresWorkerRoll(session: session).workers(seenWithinHours: 1)
    }
}

/// The workers' roll in a PostgreSQL database (`nasd_workers`): who is
/// working, on what, and how much each has done, for `nas status`.
public final class PostgresWorkerRoll: @unchecked Sendable {
    private let session: PostgresSession

    public init(url: PostgresURL) throws(RunStoreError) {
        session = try PostgresSession(url)
        try PostgresRunStore.prepareRegistry(session)
    }

    init(session: PostgresSession) { self.session = session }

    public func register(_ worker: WorkerRecord) throws(RunStoreError) {
        try session.query("""
            INSERT INTO nasd_workers (id, host, pid, threads, started_at, seen_at)
            VALUES (\(worker.id), \(worker.host), \(worker.pid), \(worker.threads), now(), now())
            ON CONFLICT (id) DO UPDATE SET seen_at = now(), stopped_at = NULL
            """)
    }

    /// The worker is alive and holds `candidate` of `run` (nil: idle).
    public func seen(_ id: String, run: String?, candidate: Int?) throws(RunStoreError) {
        try session.query("UPDATE nasd_workers SET seen_at = now(), run = \(run), candidate = \(candidate) WHERE id = \(id)")
    }

    /// A claim ended: `outcome` counts it, `seconds` it spent.
    public func ended(_ id: String, outcome: WorkerOutcome, seconds: Double) throws(RunStoreError) {
        let column = switch outcome { case .finished, .trained, .measured: "finished"; case .failed: "failed"; case .discarded: "discarded" }
        try session.query("""
            UPDATE nasd_workers SET \(unescaped: column) = \(unescaped: column) + 1, busy_seconds = busy_seconds + \(seconds),
                seen_at = now(), run = NULL, candidate = NULL WHERE id = \(id)
            """)
    }

    /// The runs in the database, by name, on the roll's own connection: a worker
    /// looks at them every pass, and a new connection each time would cost more than the look.
    public func runs() throws(RunStoreError) -> [String] { try PostgresRunStore.names(session) }

    public func stopped(_ id: String) throws(RunStoreError) {
        try session.query("UPDATE nasd_workers SET stopped_at = now(), seen_at = now(), run = NULL, candidate = NULL WHERE id = \(id)")
    }

    /// Every worker seen in the last `hours`, most recently seen first.
    public func workers(seenWithinHours hours: Double = 24) throws(RunStoreError) -> [WorkerRecord] {
        let rows = try session.query("""
            SELECT row_to_json(w)::text FROM nasd_workers w WHERE seen_at > now() - \(hours) * interval '1 hour' ORDER BY seen_at DESC, id
            """)
        do { return try rows.map { try PostgresRunStore.decode(WorkerRecord.self, try $0.decode(String.self)) } } catch {
            throw .failed(path: session.url.description, reason: "a worker's row: \(error)")
        }
    }
}

/// How a claim ended: `trained`, trained for a run measured on other devices
/// (its latency left to a worker on them); `measured`, the latency of a
/// candidate trained elsewhere.
public enum WorkerOutcome: Sendable { case finished, trained, measured, failed, discarded }
