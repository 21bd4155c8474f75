public import Core
import Engine
import Foundation
import Compression
import Latency
public import RunStore
public import SearchSpace
import Training
import VulkanEngine

/// Evaluates one candidate of a run: train on the proxy task → latency on
/// each engine → reward. It knows nothing of the controller or the order of
/// candidates, so that a worker process can evaluate candidates it is handed
/// with the same result as the loop: a candidate's training streams derive
/// from the run's seed and the candidate's index only.
public final class CandidateEvaluator {
    public let configuration: SearchConfiguration
    /// The configuration's space, parsed.
    public let space: SearchSpace
    private let proxy: SearchSpace.ProxyTask
    private let split: DatasetSplit
    private let context: ComputeContext
    /// The engines latency is taken on: the CPU always (the Pareto front is
    /// accuracy against CPU latency), and Vulkan when the reward counts it.
    private let latencyEngines: [(name: LatencyEngineName, predictor: LatencyPredictor)]
    /// Shared by evaluators working side by side: their latency measurements
    /// wait for the others' trainings to park.
    public var gate: MeasurementGate?

    /// The devices latency is taken on, by engine (`cpu`, `vulkan`): a run's
    /// latencies compare only among candidates measured on the same ones.
    public var fingerprints: [String: String] {
        Dictionary(latencyEngines.map { ($0.name.rawValue, $0.predictor.engine.device.id) }, uniquingKeysWith: { a, _ in a })
    }

    /// Loads the data, opens the engines and checks the latency table: every
    /// way the environment can fail, before any candidate is evaluated.
    public init(configuration: SearchConfiguration, space: SearchSpace) throws {
        self.configuration = configuration
        self.space = space
        proxy = try configuration.proxy.task(in: space, path: configuration.spacePath)
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

    /// Trains and measures `network` as candidate `candidate.index`, filling in
    /// its objectives, times, reward and status. A candidate that fails
    /// (diverges, runs out of memory, or `progress` throws) is recorded as
    /// failed with its reason and the worst reward; only `SearchStopped`
    /// thrown by `progress` is passed on, leaving the candidate unfinished.
    /// With `measuring` false (a worker on other devices than the run's), the
    /// candidate is trained only: its latency and reward are left to
    /// `measureLatency` on a machine of the run's, and its status stays
    /// `.training` unless it failed.
    public func evaluate(_ network: Network, into candidate: inout CandidateRecord, measuring: Bool = true,
                         progress: (TrainingProgress) throws -> Void = { _ in }) throws {
        do {
            try train(network, into: &candidate, progress: progress)
            if measuring { try measure(network, into: &candidate) }
        } catch let stop as SearchStopped {
            throw stop
        } catch {
            candidate.trainSeconds = candidate.trainSeconds ?? 0
            candidate.status = .failed
            candidate.error = "\(error)"
        }
        if measuring || candidate.status == .failed { score(&candidate) }
    }

    /// The second half of an evaluation, for a candidate trained elsewhere:
    /// latency on this machine's engines (the run's devices), then the reward.
    /// Latency depends on the architecture only, not on the trained weights.
    public func measureLatency(_ network: Network, into candidate: inout CandidateRecord) {
        do { try measure(network, into: &candidate) } catch {
            candidate.status = .failed
            candidate.error = "\(error)"
        }
        score(&candidate)
    }

    /// The reward of a candidate whose objectives are known (evaluated here, or reused).
    public func score(_ candidate: inout CandidateRecord) { Self.score(&candidate, configuration: configuration) }

    /// The reward under `configuration`'s objectives: a failed candidate gets the worst.
    public static func score(_ candidate: inout CandidateRecord, configuration: SearchConfiguration) {
        candidate.reward = candidate.status == .done
            ? configuration.reward.value(accuracy: candidate.valAccuracy ?? 0,
                                         latencyMilliseconds: candidate.latency(on: configuration.reward.engine) ?? .infinity,
                                         weightBytes: candidate.weightBytes)
            : Reward.failed
    }

    private func train(_ network: Network, into candidate: inout CandidateRecord,
                       progress: (TrainingProgress) throws -> Void) throws {
        // Each candidate's training streams derive from the run seed and its index.
        var training = TrainingConfiguration(proxy: proxy, seed: configuration.seed &* 1_000_003 &+ UInt64(candidate.index))
        training.layout = nil
        training.initialisation = configuration.initialisation
        let trainStart = Date()
        var result: TrainingResult
        candidate.weightBytes = BlockPrecision.storageBytes(network)
        gate?.beginTraining()
        do {
            defer { gate?.endTraining() }
            let trainer = try Trainer(network: network, split: split, configuration: training, context: context)
            result = try trainer.train { step in
                gate?.stepBoundary()
                try progress(step)
            }
            if result.divergedAtStep == nil, network.architecture.blocks.contains(where: { $0.bits != nil }) {
                // Blocks with `_b` are scored on the codebook weights they would ship.
                try trainer.network.load(try BlockPrecision.quantised(network, weights: try trainer.network.weights(), seed: training.seed))
                let validation = proxy.validationSubset.map { split.validation.subset(Array(0..<min($0, split.validation.count))) }
                    ?? split.validation
                result.validationAccuracy = try trainer.evaluate(validation).accuracy
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
    }

    private func measure(_ network: Network, into candidate: inout CandidateRecord) throws {
        let predicted = configuration.latency == .predicted
        var latencySeconds = 0.0
        // Waiting at the gate is not measuring: the time starts once the engine has the machine.
        let measure = { () throws -> [(LatencyEngineName, Double, String)] in
            let start = Date()
            defer { latencySeconds = Date().timeIntervalSince(start) }
            return try self.latencyEngines.map { name, predictor in
                (name, predicted ? try predictor.predict(network) : try predictor.measuredLatency(network), predictor.engine.device.id)
            }
        }
        let latencies = try predicted ? measure() : (gate.map { try $0.exclusively(measure) } ?? measure())
        candidate.latencySeconds = latencySeconds
        for (name, value, fingerprint) in latencies {
            candidate.record(latency: value, on: name, predicted: predicted, fingerprint: fingerprint)
        }
        candidate.status = .done
    }
}

/// Thrown from inside a search (a training step's progress report) when a
/// stop was requested: the candidate in progress is left unfinished, to be
/// redone from its start when the run resumes.
public struct SearchStopped: ClassifiedError {
    public init() {}

    public var kind: ErrorKind { .internal }
    public var description: String { "the search was stopped" }
}
