public import Core
public import Foundation
import Numerics
public import RunStore
public import SearchSpace
public import Training

/// What the loop reports as it goes.
public enum SearchEvent: Sendable {
    case started(index: Int, architecture: String)
    case training(TrainingProgress)
    case finished(CandidateRecord)
}

/// How a call to `SearchRun.run` ended.
public enum SearchOutcome: Sendable, Equatable {
    /// The budget (count or hours) is spent.
    case finished
    /// `stop.request()` was called: everything finished is committed, the
    /// candidate in progress will be redone from its start on resume.
    case stopped
}

/// The loop that drives a run: propose → reuse a finished result for the
/// same architecture, or evaluate (`CandidateEvaluator`) → controller update
/// → checkpoint, the finished candidate and the checkpoint in one
/// transaction. Killed at any instant and resumed, it continues from the
/// last checkpoint: the cut-off candidate is redone from its start with the
/// same proposal, and nothing finished is lost or repeated.
public final class SearchRun {
    public let configuration: SearchConfiguration
    public let store: any RunStore
    public let space: SearchSpace
    private let evaluator: CandidateEvaluator
    private let controller: any Controller
    private var step: Int
    /// Stops the loop from another thread (a signal handler, a daemon's request).
    public let stop = StopRequest()

    /// Opens a run on `store` from its last checkpoint (or from the start, for
    /// a new one), evaluating candidates with `evaluator`, whose configuration
    /// is the run's. The evaluator is built first so that a run fails to start
    /// (no data, no device) before anything of it exists.
    public init(store: any RunStore, evaluator: CandidateEvaluator) throws {
        self.store = store
        configuration = evaluator.configuration
        space = evaluator.space
        self.evaluator = evaluator
        let sizes = space.decisions.map(\.choices.count)
        let stream = RandomStream(seed: configuration.seed, name: "controller")
        controller = configuration.strategy.controller(decisionSizes: sizes, stream: stream)
        step = 0
        if let checkpoint = try store.latestCheckpoint() {
            do { try controller.restore(checkpoint.controller) } catch {
                throw SearchRunError.damaged(location: store.location, reason: "checkpoint \(checkpoint.step): \(error)")
            }
            step = checkpoint.step
        }
    }

    /// The configuration stored in `store`; a missing, unreadable or too new
    /// one is an error that says which.
    public static func configuration(in store: any RunStore) throws -> SearchConfiguration {
        guard let text = try store.configuration()[configurationKey] else {
            throw SearchRunError.damaged(location: store.location, reason: "its configuration is missing")
        }
        do { return try SearchConfiguration(stored: text) } catch {
            throw SearchRunError.unusableConfiguration(location: store.location, error)
        }
    }

    /// Writes a new run's configuration and its first event.
    public static func initialise(_ store: any RunStore, with configuration: SearchConfiguration) throws {
        try store.setConfiguration([configurationKey: try configuration.stored(), "space_hash": configuration.spaceHash])
        try store.log("created", "strategy \(configuration.strategy.rawValue), seed \(configuration.seed), budget \(configuration.budget)")
    }

    private static let configurationKey = "configuration"

    /// Candidates finished so far.
    public var completed: Int { step }

    /// When the run was reopened, until the first training step is logged.
    public var resumedAt: Date?

    /// Runs until the budget (count or hours) is spent or a stop is requested.
    @discardableResult
    public func run(_ report: (SearchEvent) -> Void = { _ in }) throws -> SearchOutcome {
        // The time budget counts the whole run, earlier sessions included:
        // the seconds its finished candidates took, plus this session's.
        let spent = try store.candidates().filter { $0.status == .done || $0.status == .failed }
            .map { ($0.trainSeconds ?? 0) + ($0.latencySeconds ?? 0) + ($0.overheadSeconds ?? 0) }.reduce(0, +)
        let start = Date()
        while step < configuration.budget {
            if stop.isRequested { return try stopped() }
            if let hours = configuration.hours, spent + Date().timeIntervalSince(start) >= hours * 3600 {
                try store.log("time-budget", String(format: "%.2f h spent: stopping at step %d of %d", hours, step, configuration.budget))
                break
            }
            do { try evaluateNext(report) } catch is SearchStopped { return try stopped() }
        }
        try store.log("stopped", "at step \(step)")
        return .finished
    }

    private func stopped() throws -> SearchOutcome {
        try store.log("stopped", "on request at step \(step); the candidate in progress is redone on resume")
        return .stopped
    }

    /// Duration of the last commit, charged to the next candidate's overhead.
    private var lastCommitSeconds = 0.0

    private func evaluateNext(_ report: (SearchEvent) -> Void) throws {
        let stepStart = Date()
        let tokens = controller.propose()
        let architecture = space.architecture(tokens: tokens)
        let network = Network(architecture)
        var candidate = CandidateRecord(index: step, arch: architecture.description, hash: architecture.hash,
                                        params: network.params, macs: network.macs)
        report(.started(index: step, architecture: candidate.arch))
        candidate.status = .training
        try store.save(candidate)

        if let earlier = try store.finished(hash: candidate.hash), earlier.index != candidate.index {
            candidate.reuse(earlier)
            evaluator.score(&candidate)
        } else {
            try evaluator.evaluate(network, into: &candidate) { progress in
                if stop.isRequested { throw SearchStopped() }
                if let resumedAt, progress.step == 1, progress.epoch == 1 {
                    try? store.log("first-step", String(format: "first training step %.2f s after the run was reopened",
                                                        Date().timeIntervalSince(resumedAt)))
                    self.resumedAt = nil
                }
                report(.training(progress))
            }
        }
        candidate.finishedAt = Date()
        controller.observe(tokens: tokens, reward: candidate.reward ?? Reward.failed)
        let checkpoint = Checkpoint(step: step + 1, controller: try controller.state(), streams: Data("{}".utf8))
        candidate.overheadSeconds = Date().timeIntervalSince(stepStart) - (candidate.trainSeconds ?? 0)
            - (candidate.latencySeconds ?? 0) + lastCommitSeconds
        let commitStart = Date()
        try store.commit(candidate, checkpoint: checkpoint)
        lastCommitSeconds = Date().timeIntervalSince(commitStart)
        step += 1
        report(.finished(candidate))
    }
}

/// Asks a search to stop at the next training step or candidate boundary: a
/// point where everything finished is committed and the candidate in
/// progress is simply redone on resume. Set from any thread.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false

    public init() {}

    public func request() { lock.withLock { requested = true } }
    public var isRequested: Bool { lock.withLock { requested } }
}

public enum SearchRunError: ClassifiedError {
    case damaged(location: String, reason: String)
    case unusableConfiguration(location: String, SearchConfigurationError)
    case diverged(step: Int)
    case noLatencyTable(engine: LatencyEngineName, table: String)

    public var kind: ErrorKind {
        switch self {
        case .damaged: return .damaged
        case let .unusableConfiguration(_, error): return error.kind
        // A candidate's own failure, recorded with it; the run goes on.
        case .diverged: return .internal
        case .noLatencyTable: return .notFound
        }
    }

    public var description: String {
        switch self {
        case let .damaged(location, reason):
            return "the run in \(location) cannot be resumed: \(reason)"
        case let .unusableConfiguration(location, error):
            return "the run in \(location) cannot be opened: \(error)"
        case let .diverged(step):
            return "diverged: the training loss became NaN or infinite at step \(step)"
        case let .noLatencyTable(engine, table):
            return "--latency predicted needs a fitted latency table for the \(engine.rawValue) engine in \(table); build it with `nas latency table build --engine \(engine.rawValue) --db \(table)`, or use --latency measured"
        }
    }
}
