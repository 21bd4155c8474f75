import Engine
import GSLNumerics
import Model
import SearchSpace
import Testing

@Suite("Quantisation-aware training of activations")
struct ActivationQuantiserTests {
    @Test("The trainer holds every quantised tensor on its grid; the CPU engine on the quantised plan computes the same logits")
    func trainerAndEngineAgree() throws {
        let network = Network(try Architecture(parsing: InferenceParityTests.architecture(kernel: "3")))
        let weights = NetworkWeights.random(for: network, seed: 11)
        let batch = 4
        let stream = RandomStream(seed: 5, name: "input")
        let input = (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
        let training = try TrainingNetwork.loaded(network, weights, batch: batch)
        let plan = try InferencePlan(network: network, weights: weights)
        let quantisers = training.quantiseActivations(plan.quantisableOutputs, bits: 8)
        #expect(quantisers.count == plan.steps.count - 1)
        training.setInput(input)
        // Evaluation before any training batch observes its ranges from the batch it sees.
        try training.forward(training: false)
        let ranges = Dictionary(uniqueKeysWithValues: try quantisers.map { q in (q.layer, try #require(q.quantisation)) })
        for (layer, quantisation) in ranges {
            let values = try training.output(ofLayer: layer)
            let codes = values.map { $0 / quantisation.step }
            let off = codes.map { abs($0 - $0.rounded()) }.max() ?? 1
            #expect(off < 1e-3, "\(network.layers[layer].name): a value \(off) of a step off the grid")
            #expect(codes.allSatisfy { $0.rounded() >= Float(quantisation.lowestCode) && $0.rounded() <= Float(quantisation.levels) })
            #expect(Set(codes.map { $0.rounded() }).count > 2, "\(network.layers[layer].name): more than two codes in use")
        }
        let engine = try InferenceNetwork(plan: plan.quantisingActivations(ranges), batch: batch, context: try ComputeContext(threads: 1))
        engine.setInput(input)
        try engine.run()
        // BN folded or not, a sum can land one code away from the trainer's; the logits stay close.
        let difference = zip(engine.logits, training.logits).map { abs($0 - $1) }.max()!
        #expect(difference < 0.05, "max |Δ| \(difference)")
        // And quantisation is really applied: the float plan differs.
        let float = try InferenceNetwork(plan: plan, batch: batch, context: try ComputeContext(threads: 1))
        float.setInput(input)
        try float.run()
        #expect(zip(float.logits, engine.logits).map { abs($0 - $1) }.max()! > 1e-4)
    }

    @Test("Observed ranges follow the training batches' largest magnitude as a moving average, and stay put in evaluation")
    func observedRanges() throws {
        let network = Network(try Architecture(parsing: InferenceParityTests.architecture(kernel: "3")))
        let weights = NetworkWeights.random(for: network, seed: 2)
        let a = (0..<2 * network.input.elements).map { Float($0 % 7) - 3 }
        let b = (0..<2 * network.input.elements).map { Float($0 % 11) / 2 - 2 }
        /// The first observed range (all quantisers before it have fixed ones) after training passes over `batches`.
        func range(after batches: [[Float]], evaluateAfter: Bool = false) throws -> (observed: Float, fixed: Float) {
            let training = try TrainingNetwork.loaded(network, weights, batch: 2)
            let outputs = try InferencePlan(network: network, weights: weights).quantisableOutputs
            let quantisers = training.quantiseActivations(outputs, bits: 8)
            let observed = try #require(zip(quantisers, outputs).first { $0.1.fixedRange == nil }?.0)
            let fixed = try #require(zip(quantisers, outputs).first { $0.1.fixedRange == 6 }?.0)
            try training.observe(batches, thenEvaluate: evaluateAfter ? a.map { $0 * 100 } : nil)
            return (try #require(observed.quantisation?.range), try #require(fixed.quantisation?.range))
        }
        let first = try range(after: [a]).observed, alone = try range(after: [b]).observed
        let both = try range(after: [a, b])
        #expect(first != alone)
        // The newest batch weighs 1%: r ← r + 0.01 (max_b − r).
        #expect(abs(both.observed - (first + 0.01 * (alone - first))) < 1e-5 * first, "\(first) → \(both.observed), batch b alone \(alone)")
        #expect(both.fixed == 6)
        // Evaluation reads the range, never moves it.
        #expect(try range(after: [a, b], evaluateAfter: true).observed == both.observed)
    }
}
