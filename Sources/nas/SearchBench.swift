import ArgumentParser
import Core
import Foundation
import Runs
import Search
import SearchSpace

/// `nas bench search`: the search loop's own throughput, candidates at once
/// × threads each, back to back.
struct SearchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Candidates evaluated per hour by the real search loop under several --parallel × --threads settings.",
        discussion: """
        Each setting runs the same random search (one seed, so the same proposals) in a runs folder \
        of its own: proxy training, latency measured on the CPU engine, commits. Rounds alternate \
        the order of the settings; the median round is reported, with the summed training, latency \
        and controller/store seconds, and each setting's speed against the first.
        """
    )

    @Option(help: "Search-space YAML file.")
    var space = "SearchSpaces/mnasnet-fm.yaml"

    @Option(help: "Proxy task: default or search.")
    var proxy: SearchConfiguration.ProxyChoice = .default

    @Option(help: "Candidates per setting and round.")
    var budget = 8

    @Option(help: "Seed of the random search.")
    var seed: UInt64 = 1

    @Option(help: "Settings to compare, as candidates-at-once x threads-each, comma separated.")
    var settings = "1x2,2x1"

    @Option(help: "Rounds (alternating the settings' order).")
    var rounds = 1

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try validating {
            try Limits.budget.check(budget, "--budget")
            try Limits.rounds.check(rounds, "--rounds")
            _ = try parsedSettings()
        }
    }

    private func parsedSettings() throws(NasError) -> [SearchThroughput.Setting] {
        guard !settings.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .invalidInput("--settings names no setting; write e.g. 1x2,2x1")
        }
        return try settings.split(separator: ",").map { (item) throws(NasError) in
            let parts = item.split(separator: "x").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let parallel = parts[0], let threads = parts[1] else {
                throw .invalidInput("--settings: '\(item)' is not candidates x threads; write e.g. 1x2,2x1")
            }
            try Limits.parallel.check(parallel, "--settings (candidates at once)")
            try Limits.threads.check(threads, "--settings (threads)")
            return .init(parallel: parallel, threads: threads)
        }
    }

    func run() throws {
        let text: String
        do { text = try String(contentsOfFile: space, encoding: .utf8) } catch {
            throw NasError.notFound("cannot read \(space): \((error as NSError).localizedDescription)")
        }
        let parsed = try SearchSpace(yaml: text, path: space)
        var configuration = SearchConfiguration(
            spaceYAML: text, spacePath: space, strategy: .random, seed: seed, budget: budget, hours: nil,
            reward: Reward(engine: .cpu, targetMilliseconds: parsed.latency.targetMilliseconds, constraint: .soft),
            latency: .measured, threads: 1, latencyTable: "", proxy: proxy)
        configuration.proposalWindow = SearchConfiguration.Strategy.random.window
        var bar = ProgressBar()
        let report = try SearchThroughput(configuration: configuration, settings: try parsedSettings(), rounds: rounds) { stage in
            bar.update(fraction: 0, detail: stage, force: true)
        }
        bar.finish()
        if json { try printJSON(report); return }
        for r in report.results {
            print(String(format: "%d at once × %d threads: %.0f candidates/h (×%.2f), wall %@ s; summed train %.1f s, latency %.1f s, controller+store %.2f s",
                         r.parallel, r.threads, r.candidatesPerHour, r.ratio, r.wallSeconds.map { String(format: "%.1f", $0) }.joined(separator: "/"),
                         r.trainSeconds, r.latencySeconds, r.overheadSeconds))
        }
    }
}
