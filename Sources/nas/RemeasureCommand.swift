import ArgumentParser
import Core
import Daemon
import Foundation
import Runs

struct RemeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remeasure",
        abstract: "Measure a run's Pareto front again (interleaved launches, median) and keep every measurement.",
        discussion: """
        A search measures each candidate once, beside whatever the machine was doing then. This \
        takes the front's latency again (--all: every finished candidate) on the engines the run \
        measured on: --launches rounds, each model once per round, each time the full protocol, \
        which retakes a measurement whose spread is wide or whose runs were disturbed (the \
        measuring thread preempted, other processes busy). The median over launches replaces the \
        candidate's figure and its reward is recomputed; every launch is kept in the run with the \
        machine's load (`nas remeasure --json` and the run's measurement table). Run it on the \
        machine the run measured on, with the run not searching.
        """
    )

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @Flag(help: "Every finished candidate, not only the Pareto front.")
    var all = false

    @Option(help: "Interleaved launches (\(Limits.launches.text)).")
    var launches = 3

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print the changes as JSON.")
    var json = false

    func validate() throws {
        try validating {
            _ = try RunName(existing: runName)
            try Limits.launches.check(launches, "--launches")
        }
    }

    func run() throws {
        let name = try RunName(existing: runName)
        // Measuring beside the daemon's training would measure the training.
        if let daemon = try DaemonClient.serving(runs.folder), let state = try? daemon.run(name).run, state.isLive {
            throw NasError.invalidInput("nas serve is searching run \(name) (\(state.state)); measure again once it stops (`nas stop \(name)`)")
        }
        var remeasure = Remeasure(folder: runs.folder, name: name)
        remeasure.all = all
        remeasure.launches = launches
        var bar = ProgressBar()
        guard let report = try remeasure.run(progress: { done, total in
            bar.update(fraction: Double(done) / Double(total), detail: "measurement \(done)/\(total)")
        }) else { return }  // only a stop request ends it early, and nothing here makes one
        bar.finish()
        if json { return try printJSON(report) }
        var rows = [["#", "hash", "engine", "before ms", "after ms", "change", "launches ms", "disturbed", "reward"]]
        for c in report.changes {
            rows.append(["\(c.index)", c.hash, c.engine, c.beforeMs.map { String(format: "%.4f", $0) } ?? "-",
                         String(format: "%.4f", c.afterMs),
                         c.beforeMs.map { String(format: "%+.1f%%", (c.afterMs / $0 - 1) * 100) } ?? "-",
                         c.launchesMs.map { String(format: "%.4f", $0) }.joined(separator: " "), "\(c.disturbed)/\(report.launches)",
                         c.rewardAfter.map { String(format: "%.4f", $0) } ?? "-"])
        }
        print(table(rows, rightAligned: [0, 3, 4, 5, 8]))
        let moved = report.frontBefore != report.frontAfter
        print("Pareto front: " + (moved ? "\(report.frontBefore) → \(report.frontAfter)" : "unchanged \(report.frontAfter)"))
    }
}
