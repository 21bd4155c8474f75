public import Foundation
public import GSLNumerics

/// MnasNet's reinforcement-learning controller: `PolicyNetwork` samples one
/// token per decision; after each batch of candidates the policy is updated
/// with PPO (clipped surrogate objective, several epochs over the batch,
/// Adam), the advantage being the reward minus an exponential moving average
/// of past rewards.
public final class RLController: Controller {
    public let strategy = "rl"
    public let batchSize: Int
    public let epochs: Int
    public let clip: Double
    public let learningRate: Double
    public let baselineDecay: Double
    private var policy: PolicyNetwork
    private let stream: RandomStream
    private var adam: AdamState
    private var baseline: Double?
    private var batch: [Sample] = []
    /// Proposed and not yet observed: their log-probability under the policy that sampled them.
    private var pending: [Sample] = []

    private struct Sample: Codable, Equatable {
        var tokens: [Int]
        var logProbability: Double
        var reward: Double?
    }

    struct AdamState: Codable, Equatable {
        var step = 0
        var first: [Double]
        var second: [Double]
    }

    /// PPO's batch: the policy changes only between batches.
    public static let defaultBatchSize = 5

    public init(decisionSizes: [Int], hidden: Int = 32, batchSize: Int = RLController.defaultBatchSize, epochs: Int = 4, clip: Double = 0.2,
                learningRate: Double = 0.01, baselineDecay: Double = 0.9, stream: RandomStream) {
        self.batchSize = batchSize
        self.epochs = epochs
        self.clip = clip
        self.learningRate = learningRate
        self.baselineDecay = baselineDecay
        self.stream = stream
        policy = PolicyNetwork(sizes: decisionSizes, hidden: hidden, stream: stream)
        adam = AdamState(first: .init(repeating: 0, count: policy.parameterCount),
                         second: .init(repeating: 0, count: policy.parameterCount))
    }

    public func propose() -> [Int] {
        let (tokens, logProbability) = policy.sample(stream)
        pending.append(Sample(tokens: tokens, logProbability: logProbability))
        return tokens
    }

    public func observe(tokens: [Int], reward: Double) {
        let index = pending.firstIndex { $0.tokens == tokens }
        var sample = index.map { pending.remove(at: $0) } ?? Sample(tokens: tokens, logProbability: policy.logProbability(tokens))
        sample.reward = reward
        batch.append(sample)
        if batch.count >= batchSize {
            update()
            batch.removeAll()
        }
    }

    private func update() {
        // Advantages against the baseline as it stood before this batch.
        var advantages: [Double] = []
        for sample in batch {
            let reward = sample.reward!
            let base = baseline ?? reward
            advantages.append(reward - base)
            baseline = base * baselineDecay + reward * (1 - baselineDecay)
        }
        for _ in 0..<epochs {
            var gradient = [Double](repeating: 0, count: policy.parameterCount)
            for (sample, advantage) in zip(batch, advantages) where advantage != 0 {
                let (logProbability, g) = policy.gradient(of: sample.tokens)
                let ratio = exp(logProbability - sample.logProbability)
                // The clipped term is flat: only inside the trust region does the sample push.
                let clipped = (advantage > 0 && ratio > 1 + clip) || (advantage < 0 && ratio < 1 - clip)
                if clipped { continue }
                let scale = advantage * ratio / Double(batch.count)
                for k in gradient.indices { gradient[k] += scale * g[k] }
            }
            ascend(gradient)
        }
    }

    /// One Adam step up the objective's gradient.
    private func ascend(_ gradient: [Double]) {
        let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
        adam.step += 1
        let correction1 = 1 - pow(beta1, Double(adam.step)), correction2 = 1 - pow(beta2, Double(adam.step))
        for k in gradient.indices {
            adam.first[k] = beta1 * adam.first[k] + (1 - beta1) * gradient[k]
            adam.second[k] = beta2 * adam.second[k] + (1 - beta2) * gradient[k] * gradient[k]
            policy.parameters[k] += learningRate * (adam.first[k] / correction1) / ((adam.second[k] / correction2).squareRoot() + epsilon)
        }
    }

    /// Everything but the numbers; the policy's weights and both Adam moments
    /// follow it as raw doubles (`HeaderedDoubles`).
    private struct Header: Codable {
        var parameterCount: Int
        var adamStep: Int
        var baseline: Double?
        var batch: [Sample]
        var pending: [Sample]
        var stream: RandomStreamState
    }

    private static let magic = "NASD-RL-STATE-1\n"

    public func state() throws -> Data {
        let header = Header(parameterCount: policy.parameterCount, adamStep: adam.step, baseline: baseline, batch: batch,
                            pending: pending, stream: stream.state())
        return try HeaderedDoubles.encode(magic: Self.magic, header: header, doubles: policy.parameters + adam.first + adam.second)
    }

    public func restore(_ data: Data) throws {
        guard let (header, doubles) = HeaderedDoubles.decode(magic: Self.magic, Header.self, from: data) else {
            throw ControllerStateError(strategy: strategy, reason: "not an RL controller state, or cut short")
        }
        let n = policy.parameterCount
        guard header.parameterCount == n, doubles.count == 3 * n else {
            throw ControllerStateError(strategy: strategy, reason: "its policy does not fit this search space")
        }
        try stream.restore(header.stream)
        policy.parameters = Array(doubles[0..<n])
        adam = AdamState(step: header.adamStep, first: Array(doubles[n..<(2 * n)]), second: Array(doubles[(2 * n)...]))
        baseline = header.baseline
        batch = header.batch
        pending = header.pending
    }

    /// Probability of a token sequence under the current policy (for tests and reports).
    public func logProbability(_ tokens: [Int]) -> Double { policy.logProbability(tokens) }
}
