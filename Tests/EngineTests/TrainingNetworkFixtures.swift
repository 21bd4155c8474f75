import Engine
import GSLNumerics
import Model
import SearchSpace

extension TrainingNetwork {
    /// A one-thread training network holding `weights`.
    static func loaded(_ network: Network, _ weights: NetworkWeights, batch: Int) throws -> TrainingNetwork {
        let training = try TrainingNetwork(network: network, batch: batch, context: try ComputeContext(threads: 1),
                                           initialisation: RandomStream(seed: 1, name: "w"))
        try training.load(weights)
        return training
    }

    /// Training forward passes over `batches`, then an evaluation pass on
    /// `evaluation` if given: what moves an observed statistic (a range, a
    /// scale) and what must leave it alone.
    func observe(_ batches: [[Float]], thenEvaluate evaluation: [Float]? = nil) throws {
        for batch in batches {
            setInput(batch)
            try forward(training: true)
        }
        if let evaluation {
            setInput(evaluation)
            try forward(training: false)
        }
    }
}
