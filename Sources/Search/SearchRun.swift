public import Core
public import Foundation
import GSLNumerics
public import RunStore
public import SearchSpace
import Training

/// What the loop reports as it goes.
public enum SearchEvent: Sendable {
    case started(index: Int, architecture: String)
    /// Candidate `index` finished a training step (with `--parallel`, several candidates report in turn).
    case training(index: Int, TrainingProgress)
    case finished(CandidateRecord)
    /// The budget is spent and the Pareto front's latency is being measured again: `done` of `total` measurements.
    case remeasuring(done: Int, total: Int)
}

/// How a call to `SearchRun.run` ended.
public enum SearchOutcome: Sendable, Equatable {
    /// The budget (count or hours) is spent.
    case finished
    /// `stop.request()` was called: everything finished is committed, the
    /// candidates in progress will be redone from their start on resume.
    case stopped
}

/// The loop that drives a run: propose a window of candidates → reuse a
/// finished result for the same architecture, or evaluate
/// (`CandidateEvaluator`, up to `parallel` at once) → commit in index order,
/// each finished candidate with a checkpoint in one transaction → controller
/// update once the window is in. Killed at any instant and resumed, it
/// continues from the last checkpoint: candidates cut off are redone from
/// their start with the same proposals, and nothing finished is lost or
/// repeated.
///
/// Windows start at multiples of the run's proposal window, and a
/// checkpoint inside a window holds the controller as it was at the
/// window's start, so a resumed run proposes the same window again and
/// skips what is committed. The number of candidates evaluated at once
/// changes nothing but the speed: each trains on the run's thread count
/// with streams derived from its index.
public final class SearchRun {
    public let configuration: SearchConfiguration
    public let store: any RunStore
    public let space: SearchSpace
    private let evaluators: [CandidateEvaluator]
    private let controller: any Controller
    private var step: Int
    /// Wall-clock seconds of the run's earlier sessions (from the last checkpoint).
    private var earlierSeconds: Double?
    /// Stops the loop from another thread (a signal handler, a daemon's request).
    public let stop = StopRequest()

    /// Opens a run on `store` from its last checkpoint (or from the start, for
    /// a new one), evaluating candidates with `evaluators` side by side (one
    /// per candidate at once, each with its own compute context), whose
    /// configuration is the run's. The evaluators are built first so that a
    /// run fails to start (no data, no device) before anything of it exists.
    public init(store: any RunStore, evaluators: [CandidateEvaluator]) throws {
        precondition(!evaluators.isEmpty, "a search needs an evaluator")
        self.store = store
        configuration = evaluators[0].configuration
        space = evaluators[0].space
        self.evaluators = evaluators
        if evaluators.count > 1 {
            let gate = MeasurementGate()
            for evaluator in evaluators { evaluator.gate = gate }
        }
        let sizes = space.decisions.map(\.choices.count)
        let stream = RandomStream(seed: configuration.seed, name: "controller")
        controller = configuration.strategy.controller(decisionSizes: sizes, stream: stream)
        step = 0
        if let checkpoint = try store.latestCheckpoint() {
            do { try controller.restore(checkpoint.controller) } catch {
                throw SearchRunError.damaged(location: store.location, reason: "checkpoint \(checkpoint.step): \(error)")
            }
            step = checkpoint.step
            earlierSeconds = (try? JSONDecoder().decode(Clock.self, from: checkpoint.streams))?.wallSeconds
        }
    }

    public convenience init(store: any RunStore, evaluator: CandidateEvaluator) throws {
        try self.init(store: store, evaluators: [evaluator])
    }

    /// What a checkpoint keeps besides the controller: the run's wall-clock
    /// time so far, which `--hours` counts (summing candidates' times would
    /// count twice what trained side by side).
    private struct Clock: Codable {
        var wallSeconds: Double
        enum CodingKeys: String, CodingKey { case wallSeconds = "wall_seconds" }
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

    /// Candidates evaluated at once: the evaluators, within the proposal window.
    public var parallel: Int { min(evaluators.count, configuration.proposalWindow) }

    /// With a shared store (`WorkQueue`): how many of the evaluators claim
    /// candidates in this process beside the workers (nil: `parallel`; 0: the
    /// workers do all the evaluating).
    public var localEvaluations: Int?

    /// When the run was reopened, until the first training step is logged.
    public var resumedAt: Date?

    /// Work to do once the budget is spent and before the run is marked
    /// finished (the Runs layer measures the Pareto front again). It gets the
    /// event sink and whether a stop was requested; if one was, the run ends
    /// stopped, and the next resume does this again.
    public var finishing: (((SearchEvent) -> Void, () -> Bool) throws -> Void)?

    /// Runs until the budget (count or hours) is spent or a stop is requested.
    @discardableResult
    public func run(_ report: (SearchEvent) -> Void = { _ in }) throws -> SearchOutcome {
        // The time budget counts the whole run, earlier sessions included. Runs whose
        // checkpoints predate the clock count their candidates' times.
        var spent = earlierSeconds ?? 0
        if earlierSeconds == nil {
            for candidate in try store.candidates() where candidate.status == .done || candidate.status == .failed {
                spent += (candidate.trainSeconds ?? 0) + (candidate.latencySeconds ?? 0) + (candidate.overheadSeconds ?? 0)
            }
        }
        let start = Date()
        let elapsed: () -> Double = { [spent] in spent + Date().timeIntervalSince(start) }
        while step < configuration.budget {
            if stop.isRequested { return try stopped() }
            if let hours = configuration.hours, elapsed() >= hours * 3600 {
                try store.log("time-budget", String(format: "%.2f h spent: stopping at step %d of %d", hours, step, configuration.budget))
                break
            }
            do { try evaluateWindow(report, elapsed: elapsed) } catch is SearchStopped { return try stopped() }
        }
        if let finishing {
            try finishing(report, { [stop] in stop.isRequested })
            if stop.isRequested { return try stopped() }
        }
        try store.log("finished", "at step \(step) of \(configuration.budget)")
        return .finished
    }

    private func stopped() throws -> SearchOutcome {
        try store.log("stopped", "on request at step \(step); the candidates in progress are redone on resume")
        return .stopped
    }

    /// Duration of the last commit, charged to the next candidate's overhead.
    private var lastCommitSeconds = 0.0

    /// Proposes the window `step` is in, evaluates what is not committed yet,
    /// commits in index order, and lets the controller learn from the whole window.
    private func evaluateWindow(_ report: (SearchEvent) -> Void, elapsed: @escaping () -> Double) throws {
        let proposalStart = Date()
        let window = configuration.proposalWindow
        let first = step - step % window, end = min(first + window, configuration.budget)
        let windowState = try controller.state()
        var candidates: [(tokens: [Int], record: CandidateRecord, network: Network)] = []
        for index in first..<end {
            let tokens = controller.propose()
            let architecture = space.architecture(tokens: tokens)
            let network = Network(architecture)
            candidates.append((tokens, CandidateRecord(index: index, arch: architecture.description, hash: architecture.hash,
                                                       params: network.params, macs: network.macs), network))
        }
        // Committed before a resume into the middle of the window: their stored results, for the controller.
        let committed = step == first ? [:] : Dictionary(
            try store.candidates().filter { (first..<step).contains($0.index) }.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        // Each architecture is evaluated once. A repeat, of an earlier window or of
        // an earlier candidate of this one, reuses the first result when its turn
        // to commit comes, or is evaluated then if that result failed (as one at a time).
        var seen = Set((first..<step).map { candidates[$0 - first].record.hash })
        var work = Set<Int>()
        for index in step..<end where seen.insert(candidates[index - first].record.hash).inserted {
            if try store.finished(hash: candidates[index - first].record.hash) == nil { work.insert(index) }
        }
        let overhead = Date().timeIntervalSince(proposalStart) / Double(max(end - step, 1))

        let pool: any CandidatePool = if let queue = store as? any WorkQueue {
            SharedQueuePool(queue: queue, evaluators: Array(evaluators.prefix(localEvaluations ?? parallel)), stop: stop)
        } else {
            EvaluationPool(evaluators: Array(evaluators.prefix(parallel)), store: store, stop: stop)
        }
        defer { pool.finish() }
        for index in work.sorted() { try pool.enqueue(candidates[index - first].record, candidates[index - first].network) }
        func relay(_ event: SearchEvent) {
            if case .training = event, let resumedAt = self.resumedAt {
                try? self.store.log("first-step", String(format: "first training step %.2f s after the run was reopened",
                                                         Date().timeIntervalSince(resumedAt)))
                self.resumedAt = nil
            }
            report(event)
        }
        var observed: [(tokens: [Int], reward: Double)] = (first..<step).map {
            (candidates[$0 - first].tokens, committed[$0]?.reward ?? Reward.failed)
        }
        while step < end {
            var candidate = candidates[step - first].record
            if !work.contains(step), let earlier = try store.finished(hash: candidate.hash) {
                relay(.started(index: step, architecture: candidate.arch))
                candidate.reuse(earlier)
                evaluators[0].score(&candidate)
            } else {
                if !work.contains(step) { try pool.enqueue(candidate, candidates[step - first].network) }
                candidate = try pool.result(step, report: relay)
            }
            candidate.finishedAt = Date()
            candidate.overheadSeconds = overhead + lastCommitSeconds
            observed.append((candidates[step - first].tokens, candidate.reward ?? Reward.failed))
            // The window's last commit carries the controller after it learnt from the whole
            // window; the others its state at the window's start, to propose the window again.
            let last = step + 1 == end
            if last { for (tokens, reward) in observed { controller.observe(tokens: tokens, reward: reward) } }
            let clock = try JSONEncoder().encode(Clock(wallSeconds: elapsed()))
            let checkpoint = Checkpoint(step: step + 1, controller: last ? try controller.state() : windowState, streams: clock)
            let commitStart = Date()
            try store.commit(candidate, checkpoint: checkpoint)
            lastCommitSeconds = Date().timeIntervalSince(commitStart)
            step += 1
            report(.finished(candidate))
        }
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
