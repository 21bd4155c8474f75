import ArgumentParser
import Core
import Foundation
import RunStore
import Runs
import Search
import SearchSpace

/// `nas bench controller`: what a search spends per candidate outside
/// training and latency (the "under 1% of wall time"), in isolation:
/// propose, observe, serialise the controller's state, and commit the
/// candidate with the checkpoint to a real run database.
struct ControllerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Per-candidate cost of a strategy's controller and the run store, without training.",
        discussion: """
        Rewards are synthetic (a fixed function of the tokens, so the RL controller trains and \
        evolution selects); everything else is the search loop's own path, including a commit per \
        candidate in a temporary run: a SQLite file, or with --store a run in that PostgreSQL \
        database (removed afterwards).
        """
    )

    @Option(help: "Search-space YAML file.")
    var space = "SearchSpaces/mnasnet-fm.yaml"

    @Option(help: "Strategy: rl, evolution or random.")
    var strategy: SearchConfiguration.Strategy = .rl

    @Option(help: "Candidates.")
    var steps = 200

    @Option(help: "Commit to a throwaway run in this PostgreSQL database instead of a SQLite file (postgres://user@host:port/database).")
    var store: String?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try validating {
            try Limits.steps.check(steps, "--steps")
            _ = try RunsFolder(path: RunsFolder.defaultPath, store: store).postgres()
        }
    }

    func run() throws {
        let parsed = try SearchSpace(contentsOf: space)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let runStore: any RunStore
        let name = "bench-controller-\(UUID().uuidString.prefix(8).lowercased())"
        let url = try RunsFolder(path: folder, store: store).postgres()
        defer { if let url { try? PostgresRunStore.drop(url: url, name: name) } }
        if let url {
            guard let made = try PostgresRunStore.create(url: url, name: name, initialise: { _ in }) else { return }
            runStore = made
        } else {
            runStore = try SQLiteRunStore(path: folder + "/run.sqlite", create: true)
        }
        let report = try ControllerBenchmark(strategy: strategy, space: parsed, steps: steps, store: runStore)
        if json { try printJSON(report); return }
        print(String(format: "%@ on %@ (%d decisions), %d candidates: %.3f ms per candidate (p90 %.3f): propose %.3f, observe %.3f, state %.3f, commit %.3f; state %d bytes",
                     report.strategy, report.space, report.decisions, steps, report.perCandidateMeanMs, report.perCandidateP90Ms,
                     report.meanMs["propose"]!, report.meanMs["observe"]!, report.meanMs["state"]!, report.meanMs["commit"]!,
                     report.stateBytes))
    }
}
