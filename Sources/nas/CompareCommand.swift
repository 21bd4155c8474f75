import ArgumentParser
import Foundation
import RunStore
import Search
import SearchSpace

/// `nas compare`: strategies side by side over runs (seeds), on the two
/// figures that judge a search: the best reward found, and the hypervolume
/// of the Pareto front of validation accuracy against CPU latency.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare runs: best reward, Pareto hypervolume, best accuracy under the target; means per strategy.",
        discussion: """
        Hypervolume: the area of the (accuracy, CPU latency) plane the run's finished candidates \
        dominate, bounded below by --reference-accuracy and on the right by --reference-ms \
        (accuracy × ms; larger is better). Runs are grouped by space and strategy, and the group \
        shows the mean and standard deviation over its runs (usually seeds).
        """
    )

    @Argument(help: "Run names (folders under --runs); default: every run there.")
    var runNames: [String] = []

    @OptionGroup var runs: RunsOption

    @Option(help: "Accuracy floor of the hypervolume (default 0.1, chance on 10 classes).")
    var referenceAccuracy = 0.1

    @Option(help: "Latency ceiling of the hypervolume, in CPU ms.")
    var referenceMs = 1.0

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (0..<1).contains(referenceAccuracy) else { throw ValidationError("--reference-accuracy must be in [0, 1).") }
        guard referenceMs > 0 else { throw ValidationError("--reference-ms must be positive.") }
    }

    func run() throws {
        let names = runNames.isEmpty ? runs.names() : runNames
        guard !names.isEmpty else { throw invalidInput("no runs under \(runs.runs); start one with `nas search`") }
        let reference = Objectives(accuracy: referenceAccuracy, latencyMilliseconds: referenceMs)
        var summaries: [RunSummary] = []
        for name in names {
            let (store, configuration) = try runs.open(name)
            let status = try RunStatus(store, name: name, configuration: configuration)
            summaries.append(RunSummary(status, configuration: configuration, reference: reference))
        }
        let groups = Dictionary(grouping: summaries) { "\($0.space)/\($0.strategy)" }.values
            .map(StrategySummary.init).sorted { ($0.space, $0.strategy) < ($1.space, $1.strategy) }
        let comparison = Comparison(reference: ["accuracy": referenceAccuracy, "latency_ms": referenceMs],
                                    runs: summaries, groups: groups)
        if json { try printJSON(comparison) } else { print(comparison.text) }
    }
}

struct RunSummary: Encodable {
    struct Point: Encodable {
        let index: Int
        let hash, arch, engine: String
        let valAccuracy, latencyMs: Double

        enum CodingKeys: String, CodingKey {
            case index, hash, arch, engine
            case valAccuracy = "val_accuracy", latencyMs = "latency_ms"
        }
    }

    let run, space, strategy: String
    let seed: UInt64
    let done: Int
    let bestReward: Double?
    let hypervolume: Double
    let paretoSize: Int
    /// The most accurate candidate within the latency target on the reward's engine.
    let bestUnderTarget: Point?
    let targetMs: Double
    /// Mean reward of the second half of the run: whether the strategy kept proposing good candidates.
    let meanRewardSecondHalf: Double?

    enum CodingKeys: String, CodingKey {
        case run, space, strategy, seed, done, hypervolume
        case bestReward = "best_reward", paretoSize = "pareto_size", bestUnderTarget = "best_under_target"
        case targetMs = "target_ms", meanRewardSecondHalf = "mean_reward_second_half"
    }

    init(_ status: RunStatus, configuration: SearchConfiguration, reference: Objectives) {
        run = status.run
        space = (try? SearchSpace(yaml: configuration.spaceYAML, path: configuration.spacePath).name) ?? configuration.spacePath
        strategy = status.strategy
        seed = status.seed
        done = status.done
        let finished = status.candidates.filter { $0.status == "done" && $0.valAccuracy != nil }
        bestReward = status.candidates.compactMap(\.reward).max()
        let points = finished.compactMap { c in c.latencyMs["cpu"].map { Objectives(accuracy: c.valAccuracy!, latencyMilliseconds: $0) } }
        hypervolume = Pareto.hypervolume(points, reference: reference)
        paretoSize = status.pareto.count
        let engine = configuration.reward.engine.rawValue
        targetMs = configuration.reward.targetMilliseconds
        bestUnderTarget = finished.filter { ($0.latencyMs[engine] ?? .infinity) <= configuration.reward.targetMilliseconds }
            .max { ($0.valAccuracy!, -$0.latencyMs[engine]!) < ($1.valAccuracy!, -$1.latencyMs[engine]!) }
            .map { Point(index: $0.index, hash: $0.hash, arch: $0.arch, engine: engine, valAccuracy: $0.valAccuracy!,
                         latencyMs: $0.latencyMs[engine]!) }
        let secondHalf = status.candidates.suffix(status.candidates.count / 2).compactMap(\.reward)
        meanRewardSecondHalf = secondHalf.isEmpty ? nil : secondHalf.reduce(0, +) / Double(secondHalf.count)
    }
}

struct StrategySummary: Encodable {
    let space, strategy: String
    let runs: [String]
    let meanBestReward, sdBestReward, meanHypervolume, sdHypervolume: Double
    let meanBestAccuracyUnderTarget: Double?

    enum CodingKeys: String, CodingKey {
        case space, strategy, runs
        case meanBestReward = "mean_best_reward", sdBestReward = "sd_best_reward"
        case meanHypervolume = "mean_hypervolume", sdHypervolume = "sd_hypervolume"
        case meanBestAccuracyUnderTarget = "mean_best_accuracy_under_target"
    }

    init(_ members: [RunSummary]) {
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

struct Comparison: Encodable {
    let reference: [String: Double]
    let runs: [RunSummary]
    let groups: [StrategySummary]

    var text: String {
        let f = { (v: Double?) in v.map { String(format: "%.4f", $0) } ?? "-" }
        var rows = [["run", "strategy", "seed", "done", "best reward", "hypervolume", "front", "best acc ≤ target", "its ms"]]
        for r in runs {
            rows.append([r.run, r.strategy, "\(r.seed)", "\(r.done)", f(r.bestReward), f(r.hypervolume), "\(r.paretoSize)",
                         f(r.bestUnderTarget?.valAccuracy), f(r.bestUnderTarget?.latencyMs)])
        }
        var means = [["space", "strategy", "runs", "best reward (mean ± sd)", "hypervolume (mean ± sd)", "best acc ≤ target"]]
        for g in groups {
            means.append([g.space, g.strategy, "\(g.runs.count)", String(format: "%.4f ± %.4f", g.meanBestReward, g.sdBestReward),
                          String(format: "%.4f ± %.4f", g.meanHypervolume, g.sdHypervolume), f(g.meanBestAccuracyUnderTarget)])
        }
        return table(rows, rightAligned: [2, 3, 4, 5, 6, 7, 8]) + "\n\n" + table(means, rightAligned: [2, 3, 4, 5])
            + String(format: "\nhypervolume: accuracy above %.2f × CPU ms below %.3g", reference["accuracy"] ?? 0, reference["latency_ms"] ?? 0)
    }
}
