public import ArgumentParser
import Core
import Foundation
import Runs
import Search

struct ParetoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pareto",
        abstract: "A run's Pareto front: the finished candidates no other beats on every objective.",
        discussion: """
        Objectives: validation accuracy (higher is better) against batch-1 latency on the CPU \
        (acc,cpu) or the Vulkan device (acc,vulkan, for runs that measured it), or against CPU \
        latency and parameters (acc,cpu,params) or the weights' stored size (acc,cpu,size: float32, \
        or a block's _b codebooks packed). An architecture evaluated more than once counts \
        once. The hypervolume is the area of the (accuracy, latency) plane the front dominates \
        above --reference-accuracy and below --reference-ms (accuracy × ms; larger is better).
        """
    )

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @Option(help: "Objectives: acc,cpu, acc,vulkan, acc,cpu,params or acc,cpu,size.")
    var objectives: ParetoReport.ObjectiveSet = .accuracyCPU

    @Option(help: "Accuracy floor of the hypervolume (default 0.1, chance on 10 classes).")
    var referenceAccuracy = 0.1

    @Option(help: "Latency ceiling of the hypervolume, in ms on the objectives' engine.")
    var referenceMs = 1.0

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try validating {
            _ = try RunName(existing: runName)
            try Limits.referenceAccuracy.check(referenceAccuracy, "--reference-accuracy")
            try Limits.targetMilliseconds.check(referenceMs, "--reference-ms")
        }
    }

    func run() throws {
        let name = try RunName(existing: runName)
        let (store, _) = try runs.folder.open(name)
        let report = ParetoReport(records: try store.candidates(), name: name, objectives: objectives,
                                  reference: Objectives(accuracy: referenceAccuracy, latencyMilliseconds: referenceMs))
        if report.candidates == 0 {
            throw NasError.notFound("run \(name) has no finished candidate with a \(report.engine.rawValue) latency yet; see `nas status \(name)`")
        }
        if json { try printJSON(report) } else { print(report.text) }
    }
}

extension ParetoReport.ObjectiveSet: ExpressibleByArgument {}

extension ParetoReport {
    var text: String {
        let third = objectives == .accuracyCPUParams ? "params" : objectives == .accuracyCPUSize ? "weights KB" : nil
        var rows = [["#", "hash", "accuracy", "\(engine.rawValue) ms"] + (third.map { [$0] } ?? []) + ["MACs", "reward", "arch"]]
        for m in front {
            let extra = objectives == .accuracyCPUParams ? [grouped(m.params)]
                : objectives == .accuracyCPUSize ? [String(format: "%.1f", Double(m.weightBytes ?? 0) / 1024)] : []
            rows.append(["\(m.index)", m.hash, String(format: "%.4f", m.valAccuracy), String(format: "%.4f", m.latencyMs)]
                        + extra
                        + [grouped(m.macs), m.reward.map { String(format: "%.4f", $0) } ?? "-", m.arch])
        }
        let right = Set(third != nil ? [0, 2, 3, 4, 5, 6] : [0, 2, 3, 4, 5])
        return "run \(run): \(front.count) of \(candidates) distinct architectures on the front (\(objectives.rawValue))\n"
            + table(rows, rightAligned: right)
            + String(format: "\nhypervolume %.4f (accuracy above %.2f × %@ ms below %.3g)", hypervolume,
                     reference["accuracy"] ?? 0, engine.rawValue, reference["latency_ms"] ?? 0)
    }
}
