import Core
public import RunStore
public import Search

/// A run's candidates, Pareto front and time split: what `nas status` prints,
/// the end of `nas search` shows, and the daemon will serve.
public struct RunStatus: Codable, Sendable {
    public struct Candidate: Codable, Sendable {
        public let index: Int
        public let arch, hash, status: String
        public let valAccuracy: Double?
        public let latencyMs: [String: Double]
        public let params, macs: Int
        public let reward, trainSeconds: Double?
        /// Bytes of its weights as stored (the size objective); nil in runs from before it.
        public let weightBytes: Int?
        /// True when its latency is the median of launches measured after the
        /// search (the front when a search finishes, `nas remeasure`), not the
        /// search's one measurement: its reward is recomputed from it. Absent otherwise.
        public let latencyRemeasured: Bool?

        enum CodingKeys: String, CodingKey {
            case index, arch, hash, status, params, macs, reward
            case valAccuracy = "val_accuracy", latencyMs = "latency_ms", trainSeconds = "train_seconds"
            case latencyRemeasured = "latency_remeasured", weightBytes = "weight_bytes"
        }
    }

    public let run, strategy: String
    public let seed: UInt64
    public let done, budget: Int
    public let candidates: [Candidate]
    /// Indices of the Pareto-front candidates (accuracy against CPU latency), by increasing latency.
    public let pareto: [Int]
    public let timeSplit: [String: Double]
    /// For a run in a shared store (PostgreSQL): its queue and the workers.
    public var shared: Shared?

    public struct Shared: Codable, Sendable {
        public let store: String
        public let queue: QueueSummary
        public let leases: [QueueLease]
        public let workers: [WorkerRecord]
    }

    enum CodingKeys: String, CodingKey {
        case run, strategy, seed, done, budget, candidates, pareto, shared
        case timeSplit = "time_split"
    }

    public init(_ store: any RunStore, name: RunName, configuration: SearchConfiguration) throws {
        try self.init(records: store.candidates(), name: name, configuration: configuration,
                      remeasured: store.remeasuredCandidates(purpose: nil))
        if let queue = store as? any WorkQueue {
            shared = Shared(store: store.location, queue: try queue.queueSummary(), leases: try queue.leases(), workers: try queue.workers())
        }
    }

    public init(records: [CandidateRecord], name: RunName, configuration: SearchConfiguration, remeasured: Set<Int> = []) {
        run = name.text
        strategy = configuration.strategy.rawValue
        seed = configuration.seed
        budget = configuration.budget
        done = records.filter { $0.status == .done || $0.status == .failed }.count
        candidates = records.map { r in
            var latency: [String: Double] = [:]
            for engine in LatencyEngineName.allCases { latency[engine.rawValue] = r.latency(on: engine) }
            return Candidate(index: r.index, arch: r.arch, hash: r.hash, status: r.status.rawValue, valAccuracy: r.valAccuracy,
                             latencyMs: latency, params: r.params, macs: r.macs, reward: r.reward, trainSeconds: r.trainSeconds,
                             weightBytes: r.weightBytes, latencyRemeasured: remeasured.contains(r.index) ? true : nil)
        }
        let training = records.compactMap(\.trainSeconds).reduce(0, +)
        let latency = records.compactMap(\.latencySeconds).reduce(0, +)
        let overhead = records.compactMap(\.overheadSeconds).reduce(0, +)
        let total = training + latency + overhead
        timeSplit = ["training_seconds": training, "latency_seconds": latency, "controller_store_seconds": overhead,
                     "controller_store_fraction": total > 0 ? overhead / total : 0].mapValues { ($0 * 1e4).rounded() / 1e4 }
        pareto = Pareto.front(records).map(\.index)
    }
}

/// One run's figures for `nas compare`.
public struct RunSummary: Encodable, Sendable {
    public struct Point: Encodable, Sendable {
        public let index: Int
        public let hash, arch, engine: String
        public let valAccuracy, latencyMs: Double

        enum CodingKeys: String, CodingKey {
            case index, hash, arch, engine
            case valAccuracy = "val_accuracy", latencyMs = "latency_ms"
        }
    }

    public let run, space, strategy: String
    public let seed: UInt64
    public let done: Int
    public let bestReward: Double?
    public let hypervolume: Double
    public let paretoSize: Int
    /// The most accurate candidate within the latency target on the reward's engine.
    public let bestUnderTarget: Point?
    public let targetMs: Double
    /// Mean reward of the second half of the run: whether the strategy kept proposing good candidates.
    public let meanRewardSecondHalf: Double?

    enum CodingKeys: String, CodingKey {
        case run, space, strategy, seed, done, hypervolume
        case bestReward = "best_reward", paretoSize = "pareto_size", bestUnderTarget = "best_under_target"
        case targetMs = "target_ms", meanRewardSecondHalf = "mean_reward_second_half"
    }

    public init(records: [CandidateRecord], name: RunName, configuration: SearchConfiguration, reference: Objectives) {
        run = name.text
        space = (try? configuration.space().name) ?? configuration.spacePath
        strategy = configuration.strategy.rawValue
        seed = configuration.seed
        done = records.filter { $0.status == .done || $0.status == .failed }.count
        bestReward = records.compactMap(\.reward).max()
        let objectives = Pareto.points(records).map(\.objectives)
        hypervolume = Pareto.hypervolume(objectives, reference: reference)
        paretoSize = Pareto.front(objectives).count
        let engine = configuration.reward.engine
        targetMs = configuration.reward.targetMilliseconds
        bestUnderTarget = Pareto.bestUnderTarget(records, engine: engine, target: configuration.reward.targetMilliseconds)
            .map { Point(index: $0.candidate.index, hash: $0.candidate.hash, arch: $0.candidate.arch, engine: engine.rawValue,
                         valAccuracy: $0.objectives.accuracy, latencyMs: $0.objectives.latencyMilliseconds) }
        let secondHalf = records.suffix(records.count / 2).compactMap(\.reward)
        meanRewardSecondHalf = secondHalf.isEmpty ? nil : secondHalf.reduce(0, +) / Double(secondHalf.count)
    }
}

/// The runs of one space and strategy (usually seeds), summarised.
public struct StrategySummary: Encodable, Sendable {
    public let space, strategy: String
    public let runs: [String]
    public let meanBestReward, sdBestReward, meanHypervolume, sdHypervolume: Double
    public let meanBestAccuracyUnderTarget: Double?

    enum CodingKeys: String, CodingKey {
        case space, strategy, runs
        case meanBestReward = "mean_best_reward", sdBestReward = "sd_best_reward"
        case meanHypervolume = "mean_hypervolume", sdHypervolume = "sd_hypervolume"
        case meanBestAccuracyUnderTarget = "mean_best_accuracy_under_target"
    }

    public init(_ members: [RunSummary]) {
        space = members[0].space
        strategy = members[0].strategy
        runs = members.map(\.run).sorted()
        (meanBestReward, sdBestReward) = Self.meanAndDeviation(members.map { $0.bestReward ?? 0 })
        (meanHypervolume, sdHypervolume) = Self.meanAndDeviation(members.map(\.hypervolume))
        let underTarget = members.compactMap(\.bestUnderTarget?.valAccuracy)
        meanBestAccuracyUnderTarget = underTarget.count == members.count ? Self.meanAndDeviation(underTarget).mean : nil
    }

    /// Mean and sample standard deviation (0 for a single run).
    static func meanAndDeviation(_ values: [Double]) -> (mean: Double, deviation: Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
        return (mean, variance.squareRoot())
    }
}

/// Strategies side by side over runs: `nas compare`.
public struct Comparison: Encodable, Sendable {
    public let reference: [String: Double]
    public let runs: [RunSummary]
    public let groups: [StrategySummary]

    /// Compares the named runs of `folder`; the hypervolume is bounded by `reference`.
    public init(_ names: [RunName], in folder: RunsFolder, reference: Objectives) throws {
        var summaries: [RunSummary] = []
        for name in names {
            let (store, configuration) = try folder.open(name)
            summaries.append(RunSummary(records: try store.candidates(), name: name, configuration: configuration,
                                        reference: reference))
        }
        self.reference = ["accuracy": reference.accuracy, "latency_ms": reference.latencyMilliseconds]
        runs = summaries
        groups = Dictionary(grouping: summaries) { "\($0.space)/\($0.strategy)" }.values
            .map(StrategySummary.init).sorted { ($0.space, $0.strategy) < ($1.space, $1.strategy) }
    }
}
