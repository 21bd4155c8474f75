public import Core
import Foundation
import GSLNumerics
import Latency
public import RunStore
import Search
import SearchSpace

/// `nas remeasure RUN`: the latency of a run's Pareto front (or of every
/// finished candidate) measured again, robustly. A search measures each
/// candidate once, in the moment, beside whatever the machine was doing;
/// the front decides what a user deploys, so its figures are taken again in
/// interleaved launches (every model once per launch, round robin, so a
/// busy minute of a shared machine lands on all of them rather than on
/// one), each launch the full measurement protocol with its retakes, and
/// the median over launches replaces the candidate's figure, its reward
/// recomputed. Every launch's sample is kept in the run, with the machine's
/// load, in one transaction with the new figures.
public struct Remeasure: Sendable {
    public struct Change: Encodable, Sendable {
        public let index: Int
        public let hash, engine: String
        public let beforeMs: Double?
        public let afterMs: Double
        public let launchesMs: [Double]
        /// Launches whose every attempt the protocol judged disturbed.
        public let disturbed: Int
        public let rewardBefore, rewardAfter: Double?

        enum CodingKeys: String, CodingKey {
            case index, hash, engine, disturbed
            case beforeMs = "before_ms", afterMs = "after_ms", launchesMs = "launches_ms"
            case rewardBefore = "reward_before", rewardAfter = "reward_after"
        }
    }

    public struct Report: Encodable, Sendable {
        public let run: String
        public let launches: Int
        public let changes: [Change]
        /// The Pareto front (indices) before and after.
        public let frontBefore, frontAfter: [Int]

        enum CodingKeys: String, CodingKey {
            case run, launches, changes
            case frontBefore = "front_before", frontAfter = "front_after"
        }
    }

    public let folder: RunsFolder
    public let name: RunName
    /// Every finished candidate instead of the front.
    public var all = false
    public var launches = 3
    /// What the samples are recorded as: "remeasure" on demand, "front" when a search finishes.
    public var purpose = "remeasure"
    /// When the run measured on another device: measure nothing and return
    /// nil instead of refusing (a search finishing on another machine than
    /// the one it measured on leaves its front to `nas remeasure` there).
    public var skipsOtherDevices = false

    public init(folder: RunsFolder, name: RunName) {
        self.folder = folder
        self.name = name
    }

    /// Measures, then stores the new figures and every sample; `progress(done, total)` after each measurement.
    /// When `isStopped` turns true it returns nil between two measurements, having stored nothing
    /// (as it does at once for a run measured elsewhere, with `skipsOtherDevices`).
    @discardableResult
    public func run(progress: (Int, Int) -> Void = { _, _ in }, isStopped: () -> Bool = { false }) throws -> Report? {
        try Limits.launches.check(launches, "--launches")
        let (store, configuration) = try folder.open(name)
        let records = try store.candidates()
        let frontBefore = Pareto.front(records).map(\.index)
        let chosen = all ? records.filter { $0.status == .done } : Pareto.front(records)
        guard !chosen.isEmpty else {
            throw NasError.invalidInput("run \(name) has no finished candidate to measure again; `nas status \(name)` shows it")
        }
        // The engines the run measured on, checked to be this machine's: figures from two devices would not compare.
        var engines: [(name: LatencyEngineName, engine: any LatencyEngine, protocol: MeasurementProtocol)] = []
        for engineName in LatencyEngineName.allCases
        where engineName == .cpu || engineName == configuration.reward.engine || chosen.contains(where: { $0.latency(on: engineName) != nil }) {
            let engine = try makeLatencyEngine(engineName, threads: 1)
            let recorded = Set(chosen.compactMap { engineName == .cpu ? $0.fingerprintCPU : $0.fingerprintVulkan })
            if let other = recorded.first(where: { $0 != engine.device.id }) {
                if skipsOtherDevices { return nil }
                throw NasError.invalidInput("run \(name)'s \(engineName.rawValue) latencies were measured on device \(other); this machine's is \(engine.device.id) (\(engine.device.device)): measure again on the machine the run measured on")
            }
            engines.append((engineName, engine, engineName == .cpu ? MeasurementProtocol(warmup: 30, runs: 200)
                                                                     : MeasurementProtocol(warmup: 5, runs: 30)))
        }

        var samples: [Int: [LatencyEngineName: [LatencyMeasurement]]] = [:]
        let total = launches * chosen.count * engines.count
        var done = 0
        for launch in 1...launches {
            for candidate in chosen {
                let network = Network(try Architecture(parsing: candidate.arch))
                for (engineName, engine, measurement) in engines {
                    if isStopped() { return nil }
                    let sample = try engine.measure(network, protocol: measurement)
                    samples[candidate.index, default: [:]][engineName, default: []].append(LatencyMeasurement(
                        candidate: candidate.index, engine: engineName.rawValue, fingerprint: engine.device.id, purpose: purpose,
                        launch: launch, medianMs: sample.medianMilliseconds, madMs: sample.madMilliseconds,
                        p10Ms: sample.p10Milliseconds, p90Ms: sample.p90Milliseconds, runs: sample.runs, attempts: sample.attempts,
                        loadAverage: sample.load?.loadAverage, threadShare: sample.load?.threadShare,
                        othersBusy: sample.load?.othersBusy, disturbed: sample.load?.disturbed))
                    done += 1
                    progress(done, total)
                }
            }
        }

        var updated: [CandidateRecord] = []
        var changes: [Change] = []
        for var candidate in chosen {
            let before = candidate
            for (engineName, engine, _) in engines {
                let median = RobustStatistics.median((samples[candidate.index]?[engineName] ?? []).map(\.medianMs)) ?? 0
                candidate.record(latency: median, on: engineName, predicted: false, fingerprint: engine.device.id)
            }
            candidate.reward = configuration.reward.value(accuracy: candidate.valAccuracy ?? 0,
                                                          latencyMilliseconds: candidate.latency(on: configuration.reward.engine) ?? .infinity,
                                                          weightBytes: candidate.weightBytes)
            updated.append(candidate)
            for (engineName, _, _) in engines {
                let taken = samples[candidate.index]?[engineName] ?? []
                changes.append(Change(index: candidate.index, hash: candidate.hash, engine: engineName.rawValue,
                                      beforeMs: before.latency(on: engineName), afterMs: candidate.latency(on: engineName) ?? 0,
                                      launchesMs: taken.map(\.medianMs), disturbed: taken.filter { $0.disturbed == true }.count,
                                      rewardBefore: before.reward, rewardAfter: candidate.reward))
            }
        }
        let measurements = chosen.flatMap { c in engines.flatMap { samples[c.index]?[$0.name] ?? [] } }
        let cpu = changes.filter { $0.engine == "cpu" }.compactMap { c in c.beforeMs.map { c.afterMs / $0 - 1 } }
        try store.remeasured(updated, measurements: measurements, event: String(
            format: "%d candidates measured again in %d launches; CPU latency changed by %+.1f%% (median)",
            chosen.count, launches, (RobustStatistics.median(cpu) ?? 0) * 100))
        let frontAfter = Pareto.front(try store.candidates()).map(\.index)
        return Report(run: name.text, launches: launches, changes: changes, frontBefore: frontBefore, frontAfter: frontAfter)
    }
}
