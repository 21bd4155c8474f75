import Core
import Foundation
public import RunStore
import SearchSpace

/// Evaluates candidates claimed from a run's shared queue, one at a time: a
/// `nas worker` process holds one per run it serves, and a coordinator that
/// evaluates too holds one per local evaluator. While a candidate trains, a
/// lease keeper renews the claim and reports progress; if the lease is lost
/// (the worker stalled past it and another took the candidate over), the
/// training stops and its result is not handed back.
///
/// Latency is taken only on the run's devices (the fingerprints recorded
/// when the run was created): a worker on other devices trains candidates
/// and leaves their latency to one on the run's, which claims it as a
/// separate, short piece of work.
public final class QueueWorker {
    public let id: String
    public let queue: any WorkQueue
    public let configuration: SearchConfiguration
    private let evaluator: CandidateEvaluator?
    /// Evaluations replaced by a sleep of this many seconds (`nas bench scale`):
    /// the coordination measured without the cores capping it.
    private let simulateSeconds: Double?
    /// How long a claim lasts without renewal.
    public var leaseSeconds = 30.0
    /// How often the lease is renewed and progress reported.
    public var renewSeconds = 1.0
    /// Whether this worker's devices are the run's, so it measures latency.
    public let measures: Bool

    /// `devices` are the evaluator's device fingerprints by engine (nil: its own):
    /// `nas worker --as-other-device` alters them to try the split on one machine.
    public init(id: String, queue: any WorkQueue, evaluator: CandidateEvaluator, devices: [String: String]? = nil) throws {
        self.id = id
        self.queue = queue
        configuration = evaluator.configuration
        self.evaluator = evaluator
        simulateSeconds = nil
        // Runs from before the fingerprints were recorded are measured wherever they are evaluated.
        let recorded = try queue.configuration()[Self.fingerprintsKey]
            .flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        measures = recorded.map { $0 == (devices ?? evaluator.fingerprints) } ?? true
    }

    /// A worker whose evaluations are a fixed sleep with objectives derived from
    /// the architecture's hash: no data, no engines.
    public init(id: String, queue: any WorkQueue, configuration: SearchConfiguration, simulateSeconds: Double) {
        self.id = id
        self.queue = queue
        self.configuration = configuration
        evaluator = nil
        self.simulateSeconds = simulateSeconds
        measures = true
    }

    /// The configuration entry of a shared run naming the devices its latencies
    /// are taken on, by engine (`cpu`, `vulkan`), as JSON.
    public static let fingerprintsKey = "engine_fingerprints"

    public struct Outcome: Sendable {
        public let index: Int
        public let outcome: WorkerOutcome
        public let seconds: Double
    }

    /// Claims the lowest claimable candidate and evaluates it; nil when there
    /// was none. `claimed` hears of the claim before the work starts. Throws
    /// `SearchStopped` (having given the claim back) when `isStopped` turns true.
    public func evaluateNext(isStopped: @escaping @Sendable () -> Bool,
                             claimed: (QueueClaim) -> Void = { _ in }) throws -> Outcome? {
        guard let claim = try queue.claim(worker: id, leaseSeconds: leaseSeconds, measures: measures) else { return nil }
        claimed(claim)
        let start = Date()
        let keeper = LeaseKeeper(queue: queue, claim: claim, leaseSeconds: leaseSeconds, interval: renewSeconds)
        defer { keeper.end() }
        var candidate = claim.candidate
        do {
            let interrupted = { isStopped() || keeper.isLost }
            if let simulateSeconds {
                try simulate(&candidate, seconds: simulateSeconds, interrupted: interrupted)
            } else if let evaluator, claim.work == .measure {
                evaluator.measureLatency(Network(try Architecture(parsing: candidate.arch)), into: &candidate)
            } else if let evaluator {
                let network = Network(try Architecture(parsing: candidate.arch))
                try evaluator.evaluate(network, into: &candidate, measuring: measures) { progress in
                    if interrupted() { throw SearchStopped() }
                    keeper.report(progress)
                }
            }
        } catch let stop as SearchStopped {
            keeper.end()
            if keeper.isLost { return Outcome(index: claim.candidate.index, outcome: .discarded, seconds: Date().timeIntervalSince(start)) }
            try queue.release(claim)
            throw stop
        }
        keeper.end()
        let delivered = try queue.complete(claim, result: candidate)
        let outcome: WorkerOutcome = !delivered ? .discarded : candidate.status == .failed ? .failed
            : claim.work == .measure ? .measured : candidate.status == .training ? .trained : .finished
        return Outcome(index: claim.candidate.index, outcome: outcome, seconds: Date().timeIntervalSince(start))
    }

    /// Sleeps in short slices (a stop or a lost lease ends it early), then
    /// fills in objectives that depend only on the architecture.
    private func simulate(_ candidate: inout CandidateRecord, seconds: Double, interrupted: () -> Bool) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if interrupted() { throw SearchStopped() }
            usleep(UInt32(min(0.05, max(0, end.timeIntervalSinceNow)) * 1e6))
        }
        let draw = Double(UInt64(candidate.hash.prefix(8), radix: 16) ?? 0) / Double(UInt32.max)
        candidate.valAccuracy = 0.6 + 0.3 * draw
        candidate.record(latency: Double(candidate.macs) / 2e8, on: .cpu, predicted: true, fingerprint: "simulated")
        candidate.trainSeconds = seconds
        candidate.latencySeconds = 0
        candidate.status = .done
        CandidateEvaluator.score(&candidate, configuration: configuration)
    }
}

/// Renews a claim's lease on its own thread while the claim is worked on,
/// carrying the latest progress with each renewal.
private final class LeaseKeeper: @unchecked Sendable {
    private let condition = NSCondition()
    private var ended = false
    private var lost = false
    private var progress: TrainingProgress?
    private var thread: Thread?

    init(queue: any WorkQueue, claim: QueueClaim, leaseSeconds: Double, interval: Double) {
        nonisolated(unsafe) let queue = queue
        let thread = Thread { [self] in
            condition.lock()
            while !ended {
                _ = condition.wait(until: Date().addingTimeInterval(interval))
                guard !ended else { break }
                let progress = self.progress
                condition.unlock()
                // A failed renewal (the server briefly away) is retried at the next tick;
                // only the server saying the claim is gone ends the work.
                let renewed = (try? queue.renew(claim, leaseSeconds: leaseSeconds, progress: progress)) ?? true
                condition.lock()
                if !renewed { lost = true }
            }
            condition.unlock()
        }
        thread.name = "nasd-lease"
        self.thread = thread
        thread.start()
    }

    var isLost: Bool { condition.withLock { lost } }

    func report(_ progress: TrainingProgress) { condition.withLock { self.progress = progress } }

    func end() {
        condition.lock()
        ended = true
        condition.broadcast()
        condition.unlock()
    }
}
