import Core
import Foundation
import GSLNumerics
public import RunStore
public import Search
public import SearchSpace

/// What a search spends per candidate outside training and latency
/// (`nas bench controller`): propose, observe, serialise the controller's
/// state, and commit the candidate with the checkpoint to a real store.
/// Rewards are synthetic (the share of decisions at their first choice, so
/// the RL controller has something to learn and evolution something to select).
public struct ControllerBenchmark: Encodable, Sendable {
    public let strategy, space: String
    public let decisions, steps: Int
    public let meanMs: [String: Double]
    public let perCandidateMeanMs, perCandidateP90Ms: Double
    public let stateBytes: Int

    enum CodingKeys: String, CodingKey {
        case strategy, space, decisions, steps
        case meanMs = "mean_ms", perCandidateMeanMs = "per_candidate_mean_ms", perCandidateP90Ms = "per_candidate_p90_ms"
        case stateBytes = "state_bytes"
    }

    public init(strategy: SearchConfiguration.Strategy, space: SearchSpace, steps: Int, store: any RunStore) throws {
        try Limits.steps.check(steps, "steps")
        let sizes = space.decisions.map(\.choices.count)
        let controller = strategy.controller(decisionSizes: sizes, stream: RandomStream(seed: 1, name: "controller"))
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
            let reward = Double(tokens.filter { $0 == 0 }.count) / Double(max(tokens.count, 1))
            time(&observe) { controller.observe(tokens: tokens, reward: reward) }
            var data = Data()
            try time(&state) { data = try controller.state() }
            stateBytes = data.count
            let architecture = space.architecture(tokens: tokens)
            var candidate = CandidateRecord(index: step, arch: architecture.description, hash: architecture.hash, params: 0, macs: 0)
            candidate.status = .done
            candidate.reward = reward
            try time(&commit) { try store.commit(candidate, checkpoint: Checkpoint(step: step + 1, controller: data, streams: Data())) }
        }
        let phases = ["propose": propose, "observe": observe, "state": state, "commit": commit]
        let perCandidate = zip(zip(propose, observe), zip(state, commit)).map { $0.0 + $0.1 + $1.0 + $1.1 }
        self.strategy = strategy.rawValue
        self.space = space.name
        decisions = sizes.count
        self.steps = steps
        meanMs = phases.mapValues { ($0.reduce(0, +) / Double(steps) * 1000).rounded() / 1000 }
        perCandidateMeanMs = (perCandidate.reduce(0, +) / Double(steps) * 1000).rounded() / 1000
        perCandidateP90Ms = ((perCandidate.sorted()[min(steps - 1, steps * 9 / 10)]) * 1000).rounded() / 1000
        self.stateBytes = stateBytes
    }
}
