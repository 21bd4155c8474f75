import Compression
import Engine
import GSLNumerics
import Model
import SearchSpace
import Testing
import Training

@Suite("The compressor's result is the network fine-tuning made", .serialized)
struct CompressorTests {
    /// The files compute what training ended with: the layers a method leaves
    /// at full precision (the first convolution and the classifier under
    /// binary and xnor; every layer under filters) as fine-tuned, not as they
    /// were before it (which an earlier build stored, at chance for xnor).
    /// Under weight sharing the codebooks hold folded values, which equal the
    /// fine-tuned network's only if its batch norms did not move.
    @Test("Every layer of the stored plan, full precision ones included, equals the fine-tuned weights",
          arguments: ["binary", "xnor", "filters:0.25", "kmeans:4", "kmeans:4:folded", "linear:4:folded"])
    func storedPlanIsFineTuned(method text: String) throws {
        let network = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o16|mb_r1_k3_s2_e3_o16|mb_r1_k3_s1_e3_o16|head_o32"))
        let weights = NetworkWeights.random(for: network, seed: 7)
        let method = try CompressionMethod(parsing: text)
        let folded = method.sharesFoldedWeights
        // Frozen batch norms take a gentler rate (`ModelCompression.learningRate`).
        var configuration = TrainingConfiguration(epochs: 1, subset: 640, batch: 64, learningRate: folded ? 1e-3 : 0.1,
                                                  warmupEpochs: 0, labelSmoothing: 0.1, seed: 3)
        configuration.validationSubset = 64
        let result = try Compressor(method: method, network: network, weights: weights, split: try DatasetSplit.load(),
                                    configuration: configuration, context: try ComputeContext(threads: 1)).run()
        if folded {
            // Every codebook is folded (the classifier has no batch norm to fold): no per-channel scale stored.
            for (name, weight) in result.stored {
                guard case let .codebook(_, bits, codebook, scales) = weight else { Issue.record("\(name): \(weight.encoding)"); continue }
                #expect(bits == 4 && codebook.count == 16 && scales == nil, "\(name)")
            }
        }
        // The fine-tuned weights as training holds them, folded afresh, with the same binary inputs.
        let trained = try InferencePlan(network: Network(result.architecture), weights: result.weights).binarisingInputs(result.binaryInputs)
        let stream = RandomStream(seed: 4, name: "input")
        let batch = 8
        let input = (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
        func logits(_ plan: InferencePlan) throws -> [Float] {
            let engine = try InferenceNetwork(plan: plan, batch: batch, context: try ComputeContext(threads: 1))
            engine.setInput(input)
            try engine.run()
            return engine.logits
        }
        let stored = try logits(result.plan), fineTuned = try logits(trained)
        let range = fineTuned.max()! - fineTuned.min()!
        let difference = zip(stored, fineTuned).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-3 * max(range, 1), "\(text): max |Δ| \(difference) on logits spanning \(range)")
        // And fine-tuning moved them: the weights before it compute something else.
        let before = try logits(try InferencePlan(network: network, weights: weights))
        if case .filters = method {} else {
            #expect(zip(before, fineTuned).map { abs($0 - $1) }.max()! > 1e-2)
        }
    }
}
