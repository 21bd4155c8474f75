public import Core
public import Foundation

/// One candidate of a run, as stored: what was proposed, how it was
/// evaluated, and what it scored. A plain value; the rules that read it (which
/// latency counts) belong to the search, and the mapping to tables to a store.
public struct CandidateRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case queued, training, done, failed }

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
    /// Bytes of its convolution and linear weights as stored (float32, or a
    /// block's `_b` codebooks): the size objective. Nil in runs from before it.
    public var weightBytes: Int?
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
        case weightBytes = "weight_bytes"
    }
}

/// One latency measurement of a candidate, kept for good: a run keeps every
/// measurement taken again (`nas remeasure`), not only the figure its
/// candidate carries, each with what the machine was doing meanwhile.
public struct LatencyMeasurement: Codable, Sendable, Equatable {
    public var candidate: Int
    public var engine: String
    public var fingerprint: String
    /// Why it was taken: `remeasure`.
    public var purpose: String
    /// Which of the interleaved launches it was (1-based).
    public var launch: Int
    public var at: Date
    public var medianMs, madMs, p10Ms, p90Ms: Double
    public var runs, attempts: Int
    public var loadAverage, threadShare, othersBusy: Double?
    public var disturbed: Bool?

    public init(candidate: Int, engine: String, fingerprint: String, purpose: String, launch: Int, at: Date = Date(),
                medianMs: Double, madMs: Double, p10Ms: Double, p90Ms: Double, runs: Int, attempts: Int,
                loadAverage: Double?, threadShare: Double?, othersBusy: Double?, disturbed: Bool?) {
        self.candidate = candidate
        self.engine = engine
        self.fingerprint = fingerprint
        self.purpose = purpose
        self.launch = launch
        self.at = at
        self.medianMs = medianMs
        self.madMs = madMs
        self.p10Ms = p10Ms
        self.p90Ms = p90Ms
        self.runs = runs
        self.attempts = attempts
        self.loadAverage = loadAverage
        self.threadShare = threadShare
        self.othersBusy = othersBusy
        self.disturbed = disturbed
    }

    enum CodingKeys: String, CodingKey {
        case candidate, engine, fingerprint, purpose, launch, at, runs, attempts, disturbed
        case medianMs = "median_ms", madMs = "mad_ms", p10Ms = "p10_ms", p90Ms = "p90_ms"
        case loadAverage = "load_average", threadShare = "thread_share", othersBusy = "others_busy"
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

/// One entry of a run's event log.
public struct RunEvent: Sendable, Equatable {
    public let id: Int
    public let at: Date
    public let kind: String
    public let message: String

    public init(id: Int, at: Date, kind: String, message: String) {
        self.id = id
        self.at = at
        self.kind = kind
        self.message = message
    }
}

/// Where a run keeps its configuration, candidates, controller checkpoints
/// and event log: what the search loop, the reports and (later) the daemon
/// and the workers need, and nothing of how it is stored. Every method is
/// one transaction, so a run killed at any instant (kill -9 included) loses
/// nothing committed. `SQLiteRunStore` is the embedded implementation.
public protocol RunStore: AnyObject {
    /// Where the store lives, for messages (a file path, a database URL).
    var location: String { get }

    /// Sets configuration entries (inserting or replacing each key).
    func setConfiguration(_ values: [String: String]) throws(RunStoreError)
    func configuration() throws(RunStoreError) -> [String: String]

    /// Inserts or replaces a candidate.
    func save(_ candidate: CandidateRecord) throws(RunStoreError)
    /// Every candidate, by index.
    func candidates() throws(RunStoreError) -> [CandidateRecord]
    /// The first finished result for an architecture, to reuse instead of training again.
    func finished(hash: String) throws(RunStoreError) -> CandidateRecord?

    /// Saves a checkpoint together with the candidate that completes its
    /// step, and logs that candidate's event (`CommitEvent`): the three never
    /// disagree after a crash, so a reader following the event log (the
    /// daemon's event stream) misses no candidate. Keeps the latest
    /// `checkpointsKept` checkpoints.
    func commit(_ candidate: CandidateRecord?, checkpoint: Checkpoint) throws(RunStoreError)
    func latestCheckpoint() throws(RunStoreError) -> Checkpoint?
    /// The steps of the checkpoints kept, oldest first.
    func checkpointSteps() throws(RunStoreError) -> [Int]

    /// Candidates whose latency was measured again, with every measurement
    /// taken and an event saying what changed, in one transaction.
    func remeasured(_ candidates: [CandidateRecord], measurements: [LatencyMeasurement], event: String) throws(RunStoreError)
    /// Every measurement kept, oldest first.
    func measurements() throws(RunStoreError) -> [LatencyMeasurement]
    /// The candidates measured again after the search (with `purpose`: only
    /// for that purpose), without reading the samples.
    func remeasuredCandidates(purpose: String?) throws(RunStoreError) -> Set<Int>

    func log(_ kind: String, _ message: String) throws(RunStoreError)
    /// The events logged after event `id` (0: all), oldest first.
    func events(after id: Int) throws(RunStoreError) -> [RunEvent]
}

extension RunStore {
    /// The whole event log, oldest first.
    public func events() throws(RunStoreError) -> [RunEvent] { try events(after: 0) }
}

/// The event a commit logs: `candidate-done` or `candidate-failed`, its
/// message the candidate as JSON with the checkpoint's step.
public struct CommitEvent: Codable, Sendable {
    public let step: Int
    public let candidate: CandidateRecord

    public init(_ candidate: CandidateRecord, checkpoint: Checkpoint) {
        step = checkpoint.step
        self.candidate = candidate
    }

    public var kind: String { candidate.status == .failed ? "candidate-failed" : "candidate-done" }

    public var message: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        // A record of plain numbers and strings always encodes.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// How many of the latest checkpoints a run keeps: resuming needs the latest
/// only; the few before it stay for inspection. Keeping all would grow the
/// store by the controller's state (an RL policy's weights and moments)
/// every candidate.
public let checkpointsKept = 3

public enum RunStoreError: ClassifiedError {
    case missing(path: String)
    case damaged(path: String, reason: String)
    /// The store could not be opened, though it may be sound (permissions, a full or read-only disk).
    case unavailable(path: String, reason: String)
    /// A read or write failed after the store was opened (a full disk, a lock held too long).
    case failed(path: String, reason: String)
    /// The database server could not be reached or refused the connection.
    case unreachable(server: String, reason: String)

    public var kind: ErrorKind {
        switch self {
        case .missing: return .notFound
        case .damaged: return .damaged
        case .unavailable, .failed, .unreachable: return .environment
        }
    }

    public var description: String {
        switch self {
        case let .missing(path):
            return "\(path) does not exist: no run there; list runs with `nas runs`"
        case let .damaged(path, reason):
            return "\(path) is damaged (\(reason)); it was not used. Restore it from a backup or start a new run; the damaged file is left in place for inspection"
        case let .unavailable(path, reason):
            return "\(path) cannot be opened (\(reason)); check that the folder is writable and the disk has room"
        case let .failed(path, reason):
            return "\(path): \(reason)"
        case let .unreachable(server, reason):
            return "\(server) cannot be reached (\(reason)); check that the server runs and listens there, the URL's user and password (PGPASSWORD), and that the database exists (createdb)"
        }
    }
}
