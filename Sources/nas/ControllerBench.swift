import ArgumentParser
import Foundation
import Numerics
import RunStore
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
        evolution selects); everything else is the search loop's own path, including a SQLite \
        commit per candidate in a temporary run database.
        """
    )

    @Option(help: "Search-space YAML file.")
    var space = "SearchSpaces/mnasnet-fm.yaml"

    @Option(help: "Strategy: rl, evolution or random.")
    var strategy: SearchConfiguration.Strategy = .rl

    @Option(help: "Candidates.")
    var steps = 200

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1.") }
    }

    func run() throws {
        let parsed = try SearchSpace(contentsOf: space)
        let sizes = parsed.decisions.map(\.choices.count)
        let controller = strategy.controller(decisionSizes: sizes, stream: RandomStream(seed: 1, name: "controller"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try SQLiteRunStore(path: folder + "/run.sqlite", create: true)

        var propose: [Double] = [], observe: [Double] = [], state: [Double] = [], commit: [Double] = []
        var stateBytes = 0
        func time(_ into: inout [Double], _ body: () throws -> Void) rethrows {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            into.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        for step in 0..<steps {
            var tokens: [Int] = []
            time(&propose) { tokens = controller.propose() }
            // Reward: the share of decisions at their first choice, so there is something to learn.
            let reward = Double(tokens.filter { $0 == 0 }.count) / Double(max(tokens.count, 1))
            time(&observe) { controller.observe(tokens: tokens, reward: reward) }
            var data = Data()
            try time(&state) { data = try controller.state() }
            stateBytes = data.count
            let architecture = parsed.architecture(tokens: tokens)
            var candidate = CandidateRecord(index: step, arch: architecture.description, hash: architecture.hash, params: 0, macs: 0)
            candidate.status = .done
            candidate.reward = reward
            try time(&commit) { try store.commit(candidate, checkpoint: Checkpoint(step: step + 1, controller: data, streams: Data())) }
        }
        let phases = ["propose": propose, "observe": observe, "state": state, "commit": commit]
        let perCandidate = zip(zip(propose, observe), zip(state, commit)).map { $0.0 + $0.1 + $1.0 + $1.1 }
        let report = ControllerBenchReport(
            strategy: strategy.rawValue, space: parsed.name, decisions: sizes.count, steps: steps,
            meanMs: phases.mapValues { ($0.reduce(0, +) / Double(steps) * 1000).rounded() / 1000 },
            perCandidateMeanMs: (perCandidate.reduce(0, +) / Double(steps) * 1000).rounded() / 1000,
            perCandidateP90Ms: ((perCandidate.sorted()[min(steps - 1, steps * 9 / 10)]) * 1000).rounded() / 1000,
            stateBytes: stateBytes)
        if json { try printJSON(report); return }
        print(String(format: "%@ on %@ (%d decisions), %d candidates: %.3f ms per candidate (p90 %.3f): propose %.3f, observe %.3f, state %.3f, commit %.3f; state %d bytes",
                     report.strategy, report.space, report.decisions, steps, report.perCandidateMeanMs, report.perCandidateP90Ms,
                     report.meanMs["propose"]!, report.meanMs["observe"]!, report.meanMs["state"]!, report.meanMs["commit"]!,
                     stateBytes))
    }
}

struct ControllerBenchReport: Encodable {
    let strategy, space: String
    let decisions, steps: Int
    let meanMs: [String: Double]
    let perCandidateMeanMs, perCandidateP90Ms: Double
    let stateBytes: Int

    enum CodingKeys: String, CodingKey {
        case strategy, space, decisions, steps
        case meanMs = "mean_ms", perCandidateMeanMs = "per_candidate_mean_ms", perCandidateP90Ms = "per_candidate_p90_ms"
        case stateBytes = "state_bytes"
    }
}
