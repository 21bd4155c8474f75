import Engine
import Foundation
import Latency
import Numerics
import RunStore
import SearchSpace
import Training
import VulkanEngine

/// What a run was started with; stored in the run's database and read back
/// on resume, so a resumed run cannot drift from its original settings.
public struct SearchConfiguration: Codable, Sendable {
    public enum Strategy: String, Codable, Sendable, CaseIterable { case rl, evolution, random }
    public enum LatencySource: String, Codable, Sendable, CaseIterable { case measured, predicted }
    public enum ProxyChoice: String, Codable, Sendable, CaseIterable { case `default`, search }

    /// The search-space file's text (a copy: editing the file later changes nothing).
    public var spaceYAML: String
    public var spacePath: String
    public var strategy: Strategy
    public var seed: UInt64
    public var budget: Int
    public var hours: Double?
    public var reward: Reward
    public var latency: LatencySource
    public var threads: Int
    /// The latency table used for predictions (shared between runs).
    public var latencyTable: String
    /// Which of the space's proxy tasks trains the candidates.
    public var proxy: ProxyChoice = .default

    public init(spaceYAML: String, spacePath: String, strategy: Strategy, seed: UInt64, budget: Int, hours: Double?,
                reward: Reward, latency: LatencySource, threads: Int, latencyTable: String) {
        self.spaceYAML = spaceYAML
        self.spacePath = spacePath
        self.strategy = strategy
        self.seed = seed
        self.budget = budget
        self.hours = hours
        self.reward = reward
        self.latency = latency
        self.threads = threads
        self.latencyTable = latencyTable
    }

    public var spaceHash: String { Architecture.hashText(spaceYAML) }
}

extension SearchConfiguration.Strategy {
    /// A new controller of this strategy for a space with these decision sizes.
    public func controller(decisionSizes sizes: [Int], stream: RandomStream) -> any Controller {
        switch self {
        case .random: return RandomController(decisionSizes: sizes, stream: stream)
        case .evolution: return EvolutionController(decisionSizes: sizes, stream: stream)
        case .rl: return RLController(decisionSizes: sizes, stream: stream)
        }
    }
}

extension SearchConfiguration.ProxyChoice {
    /// This choice's proxy task in `space`; nil when it declares no search_proxy.
    public func task(in space: SearchSpace) -> SearchSpace.ProxyTask? {
        self == .search ? space.searchProxy : space.proxy
    }
}

/// What the loop reports as it goes.
public enum SearchEvent: Sendable {
    case started(index: Int, architecture: String)
    case training(TrainingProgress)
    case finished(CandidateRecord)
}

/// The loop that drives a run: propose → reuse a finished result for the
/// same architecture, or train on the proxy task → latency → reward →
/// controller update → checkpoint, the finished candidate and the checkpoint
/// in one transaction. Killed at any instant and resumed, it continues from
/// the last checkpoint: the cut-off candidate is redone from its start with
/// the same proposal, and nothing finished is lost or repeated.
public final class SearchRun {
    public let directory: String
    public let configuration: SearchConfiguration
    public let store: RunStore
    public let space: SearchSpace
    private let controller: any Controller
    private var step: Int
    private let split: DatasetSplit
    private let context: ComputeContext
    /// The engines latency is taken on: the CPU always (the Pareto front is
    /// accuracy against CPU latency), and Vulkan when the reward counts it.
    private let latencyEngines: [(name: LatencyEngineName, predictor: LatencyPredictor)]

    public static func databasePath(_ directory: String) -> String { directory + "/run.sqlite" }

    /// The configuration a run was started with; nil when it is missing or unreadable.
    public static func configuration(in store: RunStore) throws -> SearchConfiguration? {
        try store.configuration()["configuration"].flatMap {
            try? JSONDecoder().decode(SearchConfiguration.self, from: Data($0.utf8))
        }
    }

    /// Starts a new run in `directory` (which must not hold one).
    public convenience init(creating directory: String, configuration: SearchConfiguration) throws {
        let path = Self.databasePath(directory)
        guard !FileManager.default.fileExists(atPath: path) else { throw SearchRunError.exists(directory: directory) }
        let store = try RunStore(path: path, create: true)
        let encoded = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        try store.setConfiguration(["configuration": encoded, "space_hash": configuration.spaceHash])
        try store.log("created", "strategy \(configuration.strategy.rawValue), seed \(configuration.seed), budget \(configuration.budget)")
        do { try self.init(store: store, directory: directory, configuration: configuration) } catch {
            // A run that could not start (no Vulkan device, no latency table) must not block its name.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            rmdir(directory)  // only when it is now empty
            throw error
        }
    }

    /// Reopens a run to continue it from its last checkpoint.
    public convenience init(resuming directory: String) throws {
        let opened = Date()
        let store = try RunStore(path: Self.databasePath(directory))
        guard let configuration = try Self.configuration(in: store) else {
            throw SearchRunError.damaged(directory: directory, reason: "its configuration is missing or unreadable")
        }
        try self.init(store: store, directory: directory, configuration: configuration)
        resumedAt = opened
        try store.log("resumed", "at step \(step)")
    }

    /// When `nas resume` began opening the run, until the first training step is logged.
    private var resumedAt: Date?

    private init(store: RunStore, directory: String, configuration: SearchConfiguration) throws {
        self.store = store
        self.directory = directory
        self.configuration = configuration
        space = try SearchSpace(yaml: configuration.spaceYAML, path: configuration.spacePath)
        let sizes = space.decisions.map(\.choices.count)
        let stream = RandomStream(seed: configuration.seed, name: "controller")
        controller = configuration.strategy.controller(decisionSizes: sizes, stream: stream)
        step = 0
        if let checkpoint = try store.latestCheckpoint() {
            do { try controller.restore(checkpoint.controller) } catch {
                throw SearchRunError.damaged(directory: directory, reason: "checkpoint \(checkpoint.step): \(error)")
            }
            step = checkpoint.step
        }
        split = try DatasetSplit.load()
        context = try ComputeContext(threads: configuration.threads)
        let table = try LatencyStore(path: configuration.latencyTable)
        var engines = [(LatencyEngineName.cpu, try LatencyPredictor(store: table, engine: try CPUEngine(threads: 1)))]
        if configuration.reward.engine == .vulkan {
            let vulkan = try LatencyPredictor(store: table, engine: VulkanDeviceEngine(context: try VulkanContext()))
            // A network takes milliseconds on a GPU (tens on lavapipe): 50 timed runs keep the
            // measurement well under a candidate's training time; the spread check still applies.
            vulkan.networkProtocol = MeasurementProtocol(warmup: 10, runs: 50)
            engines.append((.vulkan, vulkan))
        }
        latencyEngines = engines
        if configuration.latency == .predicted {
            for (name, predictor) in latencyEngines where try table.correction(device: predictor.engine.device) == nil {
                throw SearchRunError.noLatencyTable(engine: name, table: configuration.latencyTable)
            }
        }
    }

    /// Candidates finished so far.
    public var completed: Int { step }

    /// Runs until the budget (count or hours) is spent.
    public func run(_ report: (SearchEvent) -> Void = { _ in }) throws {
        // The time budget counts the whole run, earlier sessions included:
        // the seconds its finished candidates took, plus this session's.
        let spent = try store.candidates().filter { $0.status == .done || $0.status == .failed }
            .map { ($0.trainSeconds ?? 0) + ($0.latencySeconds ?? 0) + ($0.overheadSeconds ?? 0) }.reduce(0, +)
        let start = Date()
        while step < configuration.budget {
            if let hours = configuration.hours, spent + Date().timeIntervalSince(start) >= hours * 3600 {
                try store.log("time-budget", String(format: "%.2f h spent: stopping at step %d of %d", hours, step, configuration.budget))
                break
            }
            try evaluateNext(report)
        }
        try store.log("stopped", "at step \(step)")
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
        } else {
            do {
                try evaluate(architecture, into: &candidate, report)
            } catch {
                candidate.trainSeconds = candidate.trainSeconds ?? 0
                candidate.status = .failed
                candidate.error = "\(error)"
            }
        }
        candidate.reward = candidate.status == .done
            ? configuration.reward.value(accuracy: candidate.valAccuracy ?? 0,
                                         latencyMilliseconds: candidate.latency(on: configuration.reward.engine) ?? .infinity)
            : Reward.failed
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

    private func evaluate(_ architecture: Architecture, into candidate: inout CandidateRecord,
                          _ report: (SearchEvent) -> Void) throws {
        // Each candidate's training streams derive from the run seed and its index.
        let proxy = configuration.proxy.task(in: space) ?? space.proxy
        var training = TrainingConfiguration(proxy: proxy, seed: configuration.seed &* 1_000_003 &+ UInt64(candidate.index))
        training.layout = nil
        let trainStart = Date()
        let result: TrainingResult
        do {
            let trainer = try Trainer(architecture: architecture, split: split, configuration: training, context: context)
            result = try trainer.train { progress in
                if let resumedAt, progress.step == 1, progress.epoch == 1 {
                    try? store.log("first-step", String(format: "first training step %.2f s after the run was reopened",
                                                        Date().timeIntervalSince(resumedAt)))
                    self.resumedAt = nil
                }
                report(.training(progress))
            }
            candidate.trainSeconds = Date().timeIntervalSince(trainStart)
        } catch {
            candidate.trainSeconds = Date().timeIntervalSince(trainStart)
            throw error
        }
        guard result.divergedAtStep == nil, let accuracy = result.validationAccuracy else {
            throw SearchRunError.diverged(step: result.divergedAtStep ?? 0)
        }
        candidate.valAccuracy = accuracy
        let latencyStart = Date()
        defer { candidate.latencySeconds = Date().timeIntervalSince(latencyStart) }
        for (name, predictor) in latencyEngines {
            let predicted = configuration.latency == .predicted
            let value = predicted ? try predictor.predict(architecture) : try predictor.measuredLatency(architecture)
            candidate.record(latency: value, on: name, predicted: predicted, fingerprint: predictor.engine.device.id)
        }
        candidate.status = .done
    }
}

public enum SearchRunError: Error, CustomStringConvertible {
    case exists(directory: String)
    case damaged(directory: String, reason: String)
    case diverged(step: Int)
    case noLatencyTable(engine: LatencyEngineName, table: String)
    case noSearchProxy(space: String)

    public var description: String {
        switch self {
        case let .exists(directory):
            return "\(directory) already holds a run; continue it with `nas resume`, or choose another --run name"
        case let .damaged(directory, reason):
            return "the run in \(directory) cannot be resumed: \(reason)"
        case let .diverged(step):
            return "diverged: the training loss became NaN or infinite at step \(step)"
        case let .noSearchProxy(space):
            return "\(space) declares no search_proxy; use --proxy default or add a search_proxy section"
        case let .noLatencyTable(engine, table):
            return "--latency predicted needs a fitted latency table for the \(engine.rawValue) engine in \(table); build it with `nas latency table build --engine \(engine.rawValue) --db \(table)`, or use --latency measured"
        }
    }
}
