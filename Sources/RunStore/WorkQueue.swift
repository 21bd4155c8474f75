public import Core
public import Foundation

/// A run's candidates handed out to workers, when its store is shared
/// (PostgreSQL): the coordinator queues each candidate it wants evaluated and
/// reads the results in index order; workers claim the lowest queued one
/// under a lease they renew while they train, and hand the result back in
/// one transaction. A lease that runs out (a worker killed, a machine gone)
/// makes the candidate claimable again, and the result of an expired claim
/// is discarded, so every candidate is evaluated to completion exactly once
/// as far as the run is concerned.
public protocol WorkQueue: RunStore {
    /// Queues a candidate. One already queued with the same architecture keeps
    /// its state (a result a worker delivered before the coordinator restarted
    /// is used as it is: a candidate's evaluation depends only on the run,
    /// its index and its architecture).
    func enqueue(_ candidate: CandidateRecord) throws(RunStoreError)
    /// Where candidate `index` stands.
    func queued(_ index: Int) throws(RunStoreError) -> QueueEntry?
    /// Whether `claim` would find work now (without claiming it).
    func hasClaimable(measures: Bool) throws(RunStoreError) -> Bool
    /// Claims the lowest candidate that is queued or whose lease ran out, and
    /// marks it training; with `measures` (the worker is on the run's devices),
    /// also one trained elsewhere that waits for its latency. Nil when there is none.
    func claim(worker: String, leaseSeconds: Double, measures: Bool) throws(RunStoreError) -> QueueClaim?
    /// Renews a claim's lease and records its progress; false when the claim
    /// is no longer this worker's (its lease ran out): stop working on it.
    func renew(_ claim: QueueClaim, leaseSeconds: Double, progress: TrainingProgress?) throws(RunStoreError) -> Bool
    /// Hands a result back; false when the claim had expired (the result is
    /// discarded). A candidate trained but not measured (status `.training`)
    /// waits for a worker on the run's devices; any other result is delivered.
    func complete(_ claim: QueueClaim, result: CandidateRecord) throws(RunStoreError) -> Bool
    /// Gives a claim up (a worker asked to stop): the candidate is queued again
    /// (or, if it was trained already, waits for its latency again).
    func release(_ claim: QueueClaim) throws(RunStoreError)
    /// The queue in figures, for `nas status`.
    func queueSummary() throws(RunStoreError) -> QueueSummary
    /// The workers seen in the last hour, whichever runs they serve.
    func workers() throws(RunStoreError) -> [WorkerRecord]
    /// The claims held now, by index: who holds each and how long its lease has left.
    func leases() throws(RunStoreError) -> [QueueLease]
}

/// A claim held now, for `nas status`.
public struct QueueLease: Codable, Sendable, Equatable {
    public let index: Int
    public let worker: String
    public let attempt: Int
    /// Negative once it has run out (the candidate is claimable again).
    public let secondsLeft: Double
    public let progress: TrainingProgress?

    public init(index: Int, worker: String, attempt: Int, secondsLeft: Double, progress: TrainingProgress?) {
        self.index = index
        self.worker = worker
        self.attempt = attempt
        self.secondsLeft = secondsLeft
        self.progress = progress
    }

    enum CodingKeys: String, CodingKey {
        case index, worker, attempt, progress
        case secondsLeft = "seconds_left"
    }
}

/// A run's queue in figures.
public struct QueueSummary: Codable, Sendable, Equatable {
    public var queued, claimed, done: Int
    /// Trained on other devices and waiting for their latency on the run's.
    public var awaitingLatency: Int
    /// Candidates trained on other devices than the run's and measured on them.
    public var trainedElsewhere: Int
    /// Claims made in all (a candidate claimed again after a lease ran out counts twice).
    public var claims: Int
    /// Candidates claimed more than once: re-issued after a worker was lost.
    public var reissued: Int

    enum CodingKeys: String, CodingKey {
        case queued, claimed, done, claims, reissued
        case awaitingLatency = "awaiting_latency", trainedElsewhere = "trained_elsewhere"
    }

    public init(queued: Int, claimed: Int, done: Int, awaitingLatency: Int, trainedElsewhere: Int, claims: Int, reissued: Int) {
        self.queued = queued
        self.claimed = claimed
        self.done = done
        self.awaitingLatency = awaitingLatency
        self.trainedElsewhere = trainedElsewhere
        self.claims = claims
        self.reissued = reissued
    }
}

/// A claim on one candidate: its record as proposed (or as trained, for a
/// latency measurement) and the claim's token.
public struct QueueClaim: Sendable, Equatable {
    public enum Work: String, Sendable { case train, measure }
    public let candidate: CandidateRecord
    /// Which claim of the candidate this is (1 for the first): the lease's token.
    public let attempt: Int
    public let work: Work

    public init(candidate: CandidateRecord, attempt: Int, work: Work = .train) {
        self.candidate = candidate
        self.attempt = attempt
        self.work = work
    }
}

/// A candidate's place in the queue, as the coordinator polls it.
public struct QueueEntry: Sendable, Equatable {
    /// `trained`: trained on other devices than the run's, waiting for a worker
    /// on them to measure its latency (`measuring`).
    public enum State: String, Sendable { case queued, claimed, trained, measuring, done }
    public let state: State
    public let worker: String?
    public let attempts: Int
    public let progress: TrainingProgress?
    public let result: CandidateRecord?

    public init(state: State, worker: String?, attempts: Int, progress: TrainingProgress?, result: CandidateRecord?) {
        self.state = state
        self.worker = worker
        self.attempts = attempts
        self.progress = progress
        self.result = result
    }
}

/// A worker process as the database knows it, for `nas status`.
public struct WorkerRecord: Codable, Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int
    public var threads: Int
    public var startedAt: Date
    public var seenAt: Date
    /// The run and candidate it holds, if any.
    public var run: String?
    public var candidate: Int?
    public var finished: Int
    public var failed: Int
    /// Results handed back after their lease had run out.
    public var discarded: Int
    public var busySeconds: Double
    public var stoppedAt: Date?

    public init(id: String, host: String, pid: Int, threads: Int, startedAt: Date, seenAt: Date, run: String? = nil, candidate: Int? = nil,
                finished: Int, failed: Int, discarded: Int, busySeconds: Double, stoppedAt: Date? = nil) {
        self.id = id
        self.host = host
        self.pid = pid
        self.threads = threads
        self.startedAt = startedAt
        self.seenAt = seenAt
        self.run = run
        self.candidate = candidate
        self.finished = finished
        self.failed = failed
        self.discarded = discarded
        self.busySeconds = busySeconds
        self.stoppedAt = stoppedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, host, pid, threads, run, candidate, finished, failed, discarded
        case startedAt = "started_at", seenAt = "seen_at", busySeconds = "busy_seconds", stoppedAt = "stopped_at"
    }
}
