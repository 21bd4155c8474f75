import Foundation
import GSLNumerics
@testable import Search
import Testing

@Suite("Reward")
struct RewardTests {
    @Test("MnasNet's soft and hard constraints")
    func values() {
        let soft = Reward(engine: .cpu, targetMilliseconds: 2, constraint: .soft)
        let hard = Reward(engine: .cpu, targetMilliseconds: 2, constraint: .hard)
        #expect(soft.value(accuracy: 0.9, latencyMilliseconds: 2) == 0.9)
        #expect(abs(soft.value(accuracy: 0.9, latencyMilliseconds: 4) - 0.9 * pow(2, -0.07)) < 1e-12)
        #expect(abs(soft.value(accuracy: 0.9, latencyMilliseconds: 1) - 0.9 * pow(0.5, -0.07)) < 1e-12)
        #expect(hard.value(accuracy: 0.9, latencyMilliseconds: 1) == 0.9)
        #expect(abs(hard.value(accuracy: 0.9, latencyMilliseconds: 4) - 0.45) < 1e-12)
    }

    @Test("A size target adds a factor of the same form; without one, size does not count")
    func size() {
        let sized = Reward(engine: .cpu, targetMilliseconds: 2, constraint: .soft, sizeTargetKilobytes: 10)
        #expect(sized.value(accuracy: 0.9, latencyMilliseconds: 2, weightBytes: 10 * 1024) == 0.9)
        #expect(abs(sized.value(accuracy: 0.9, latencyMilliseconds: 2, weightBytes: 20 * 1024) - 0.9 * pow(2, -0.07)) < 1e-12)
        #expect(abs(sized.value(accuracy: 0.9, latencyMilliseconds: 4, weightBytes: 5 * 1024) - 0.9 * pow(2, -0.07) * pow(0.5, -0.07)) < 1e-12)
        let hard = Reward(engine: .cpu, targetMilliseconds: 2, constraint: .hard, sizeTargetKilobytes: 10)
        #expect(abs(hard.value(accuracy: 0.9, latencyMilliseconds: 2, weightBytes: 40 * 1024) - 0.225) < 1e-12)
        let plain = Reward(engine: .cpu, targetMilliseconds: 2, constraint: .soft)
        #expect(plain.value(accuracy: 0.9, latencyMilliseconds: 2, weightBytes: 1 << 30) == 0.9)
    }
}

@Suite("Pareto utilities")
struct ParetoTests {
    static let points = [
        Objectives(accuracy: 0.80, latencyMilliseconds: 1),  // 0: front
        Objectives(accuracy: 0.85, latencyMilliseconds: 2),  // 1: front
        Objectives(accuracy: 0.84, latencyMilliseconds: 3),  // 2: dominated by 1
        Objectives(accuracy: 0.90, latencyMilliseconds: 4),  // 3: front
        Objectives(accuracy: 0.70, latencyMilliseconds: 5),  // 4: dominated
    ]

    @Test("Front and non-dominated sort")
    func fronts() {
        #expect(Pareto.front(Self.points) == [0, 1, 3])
        #expect(Pareto.nonDominatedSort(Self.points).map { $0.sorted() } == [[0, 1, 3], [2], [4]])
    }

    @Test("Hypervolume, counted by hand")
    func hypervolume() {
        // Reference: accuracy 0.5, latency 5. Slices: (5−1)(0.80−0.5) + (5−2)(0.85−0.80) + (5−4)(0.90−0.85).
        let expected = 4 * 0.30 + 3 * 0.05 + 1 * 0.05
        #expect(abs(Pareto.hypervolume(Self.points, reference: Objectives(accuracy: 0.5, latencyMilliseconds: 5)) - expected) < 1e-12)
        #expect(Pareto.hypervolume([], reference: Objectives(accuracy: 0, latencyMilliseconds: 1)) == 0)
    }
}

@Suite("Controllers")
struct ControllerTests {
    static let sizes = [4, 4, 3, 8, 8, 3, 2, 2, 3, 1, 3]

    /// A synthetic objective: the share of decisions at their first choice.
    static func reward(_ tokens: [Int]) -> Double { Double(tokens.filter { $0 == 0 }.count) / Double(tokens.count) }

    static func make(_ strategy: String, seed: UInt64) -> any Controller {
        let stream = RandomStream(seed: seed, name: "controller")
        switch strategy {
        case "random": return RandomController(decisionSizes: sizes, stream: stream)
        case "rl": return RLController(decisionSizes: sizes, hidden: 16, stream: stream)
        default: return EvolutionController(decisionSizes: sizes, populationSize: 10, sampleSize: 3, stream: stream)
        }
    }

    static func run(_ controller: any Controller, steps: Int) -> [[Int]] {
        (0..<steps).map { _ in
            let tokens = controller.propose()
            controller.observe(tokens: tokens, reward: reward(tokens))
            return tokens
        }
    }

    @Test("Saved state restored into a fresh controller continues identically", arguments: ["random", "evolution", "rl"])
    func saveRestore(strategy: String) throws {
        let original = Self.make(strategy, seed: 3)
        _ = Self.run(original, steps: 37)
        let saved = try original.state()
        let continued = Self.run(original, steps: 50)

        let resumed = Self.make(strategy, seed: 99)  // a different seed: everything must come from the state
        try resumed.restore(saved)
        #expect(Self.run(resumed, steps: 50) == continued)
    }

    @Test("Tokens are always valid choices; evolution mutates exactly one decision of a parent")
    func validity() {
        let evolution = Self.make("evolution", seed: 1)
        let proposals = Self.run(evolution, steps: 200)
        for tokens in proposals { #expect(zip(tokens, Self.sizes).allSatisfy { $0 >= 0 && $0 < $1 }) }
        for child in proposals[20...] {
            #expect(proposals.contains { parent in zip(parent, child).filter { $0 != $1 }.count == 1 })
        }
    }

    @Test("Evolution and the RL controller beat random search on a simple objective")
    func strategiesLearn() {
        let last = { (p: [[Int]]) in p.suffix(100).map(Self.reward).reduce(0, +) / 100 }
        let random = last(Self.run(Self.make("random", seed: 5), steps: 400))
        let evolution = last(Self.run(Self.make("evolution", seed: 5), steps: 400))
        let rl = last(Self.run(Self.make("rl", seed: 5), steps: 400))
        #expect(evolution > random + 0.2, "evolution \(evolution), random \(random)")
        #expect(rl > random + 0.2, "rl \(rl), random \(random)")
    }

    @Test("The policy's gradient (backpropagation through time) matches finite differences")
    func policyGradient() {
        let stream = RandomStream(seed: 2, name: "policy")
        var policy = PolicyNetwork(sizes: [3, 2, 4, 1, 3], hidden: 5, stream: stream)
        // Move away from the initial symmetric point so every term matters.
        for k in policy.parameters.indices { policy.parameters[k] += stream.uniform(-0.5, 0.5) }
        let tokens = [2, 0, 3, 0, 1]
        let (value, gradient) = policy.gradient(of: tokens)
        #expect(abs(value - policy.logProbability(tokens)) < 1e-12)
        var worst = 0.0
        for k in policy.parameters.indices {
            var plus = policy, minus = policy
            plus.parameters[k] += 1e-6
            minus.parameters[k] -= 1e-6
            let numeric = (plus.logProbability(tokens) - minus.logProbability(tokens)) / 2e-6
            worst = max(worst, abs(numeric - gradient[k]))
        }
        #expect(worst < 1e-6, "largest gradient error \(worst)")
    }

    @Test("A state from another strategy or space is refused")
    func foreignState() throws {
        let random = try Self.make("random", seed: 1).state()
        #expect(throws: ControllerStateError.self) { try Self.make("evolution", seed: 1).restore(random) }
        let small = EvolutionController(decisionSizes: [2], populationSize: 10, sampleSize: 3, stream: RandomStream(seed: 1, name: "c"))
        _ = Self.run(Self.make("evolution", seed: 1), steps: 1)
        let evolution = Self.make("evolution", seed: 1)
        _ = Self.run(evolution, steps: 5)
        #expect(throws: ControllerStateError.self) { try small.restore(try evolution.state()) }
    }
}
