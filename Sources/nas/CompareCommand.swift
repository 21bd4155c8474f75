import ArgumentParser
import Core
import Foundation
import Runs
import Search

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
        try validating {
            try Limits.referenceAccuracy.check(referenceAccuracy, "--reference-accuracy")
            try Limits.targetMilliseconds.check(referenceMs, "--reference-ms")
            for name in runNames { _ = try RunName(existing: name) }
        }
    }

    func run() throws {
        let names = runNames.isEmpty ? try runs.folder.storedNames() : try runNames.map { name throws(NasError) in try RunName(existing: name) }
        guard !names.isEmpty else { throw NasError.notFound("no runs under \(runs.runs); start one with `nas search`") }
        let comparison = try Comparison(names, in: runs.folder,
                                        reference: Objectives(accuracy: referenceAccuracy, latencyMilliseconds: referenceMs))
        if json { try printJSON(comparison) } else { print(comparison.text) }
    }
}

extension Comparison {
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
