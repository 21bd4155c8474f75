import Core
import Foundation
import RunStore
public import Search

/// `nas bench search`: candidates evaluated per hour by the real search loop
/// (proxy training, measured latency, commits) under several settings of
/// candidates at once × threads each, back to back on the same proposals
/// (a random search of one seed), each in a runs folder of its own so none
/// reuses another's latency measurements. Rounds alternate the settings'
/// order, since a shared machine drifts.
public struct SearchThroughput: Encodable, Sendable {
    public struct Setting: Codable, Sendable, Hashable {
        public let parallel, threads: Int
        public init(parallel: Int, threads: Int) { self.parallel = parallel; self.threads = threads }
        public var text: String { "\(parallel)×\(threads)" }
    }

    public struct Result: Encodable, Sendable {
        public let parallel, threads, candidates: Int
        public let wallSeconds: [Double]
        /// From the median of the rounds' wall times.
        public let candidatesPerHour: Double
        /// Summed over candidates (with several at once, more than the wall time).
        public let trainSeconds, latencySeconds, overheadSeconds: Double
        /// Against the first setting.
        public let ratio: Double

        enum CodingKeys: String, CodingKey {
            case parallel, threads, candidates, ratio
            case wallSeconds = "wall_seconds", candidatesPerHour = "candidates_per_hour", trainSeconds = "train_seconds",
                 latencySeconds = "latency_seconds", overheadSeconds = "overhead_seconds"
        }
    }

    public let space: String
    public let proxy: String
    public let seed: UInt64
    public let results: [Result]

    /// Runs `budget` candidates of a random search under each setting, `rounds` times.
    public init(configuration base: SearchConfiguration, settings: [Setting], rounds: Int,
                progress: (String) -> Void = { _ in }) throws {
        guard !settings.isEmpty else { throw NasError.invalidInput("--settings names no setting; give e.g. 1x2,2x1") }
        for setting in settings {
            try Limits.parallel.check(setting.parallel, "--settings (candidates at once)")
            try Limits.threads.check(setting.threads, "--settings (threads)")
        }
        try Limits.rounds.check(rounds, "--rounds")
        var walls = [Setting: [Double]](), splits = [Setting: (Double, Double, Double)]()
        for round in 0..<rounds {
            for setting in round % 2 == 0 ? settings : settings.reversed() {
                progress("round \(round + 1)/\(rounds): \(setting.text)")
                let folder = RunsFolder(path: FileManager.default.temporaryDirectory
                    .appendingPathComponent("nasd-bench-search-\(UUID().uuidString)").path)
                defer { try? FileManager.default.removeItem(atPath: folder.path) }
                try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
                var configuration = base
                configuration.strategy = .random
                configuration.proposalWindow = max(base.proposalWindow, setting.parallel)
                configuration.threads = setting.threads
                configuration.latencyTable = folder.latencyTable
                let run = try folder.create(try RunName("bench"), configuration: configuration, parallel: setting.parallel)
                let start = Date()
                try run.run()
                walls[setting, default: []].append(Date().timeIntervalSince(start))
                let records = try run.store.candidates()
                splits[setting] = (records.compactMap(\.trainSeconds).reduce(0, +), records.compactMap(\.latencySeconds).reduce(0, +),
                                   records.compactMap(\.overheadSeconds).reduce(0, +))
            }
        }
        let median = { (values: [Double]) -> Double in
            let sorted = values.sorted(), middle = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }
        let first = median(walls[settings[0]]!)
        let round2 = { (x: Double) in (x * 100).rounded() / 100 }
        space = base.spacePath
        proxy = base.proxy.rawValue
        seed = base.seed
        results = settings.map { setting in
            let wall = median(walls[setting]!)
            let split = splits[setting]!
            return Result(parallel: setting.parallel, threads: setting.threads, candidates: base.budget,
                          wallSeconds: walls[setting]!.map(round2), candidatesPerHour: round2(Double(base.budget) * 3600 / wall),
                          trainSeconds: round2(split.0), latencySeconds: round2(split.1), overheadSeconds: round2(split.2),
                          ratio: (first / wall * 1000).rounded() / 1000)
        }
    }
}
