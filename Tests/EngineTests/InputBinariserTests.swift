import Engine
import GSLNumerics
import Model
import SearchSpace
import Testing

@Suite("XNOR-Net's binary inputs in training")
struct InputBinariserTests {
    /// A network with residual adds, squeeze-and-excite and a separable block.
    static let network = { Network(try! Architecture(parsing: InferenceParityTests.architecture(kernel: "3"))) }()

    static func input(_ batch: Int, seed: UInt64) -> [Float] {
        let stream = RandomStream(seed: seed, name: "input")
        return (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
    }

    @Test("The CPU engine on the binarised plan computes the trainer's logits; the tensors stay real for their other readers")
    func trainerAndEngineAgree() throws {
        let network = Self.network
        let weights = NetworkWeights.random(for: network, seed: 11)
        let batch = 4
        let input = Self.input(batch, seed: 5)
        let training = try TrainingNetwork.loaded(network, weights, batch: batch)
        let plan = try InferencePlan(network: network, weights: weights)
        let binarisers = try training.binariseInputs(ofConvolutions: plan.binarisableConvolutions)
        #expect(binarisers.count == plan.binarisableConvolutions.count && binarisers.count > 5)
        training.setInput(input)
        try training.forward(training: false)
        let scales = Dictionary(uniqueKeysWithValues: try binarisers.map { b in (b.layer, try #require(b.binarisation)) })
        for (layer, binarisation) in scales {
            // The scale is the mean |x| of the tensor the convolution reads, which is still real afterwards.
            let source = try training.output(ofLayer: network.layers[layer].inputs[0])
            let mean = source.reduce(0) { $0 + abs($1) } / Float(source.count)
            #expect(abs(binarisation.scale - mean) <= 1e-4 * mean, "\(network.layers[layer].name): scale \(binarisation.scale), mean |x| \(mean)")
            #expect(Set(source).count > 3, "\(network.layers[layer].name) reads a tensor left binary")
        }
        let engine = try InferenceNetwork(plan: plan.binarisingInputs(scales), batch: batch, context: try ComputeContext(threads: 1))
        engine.setInput(input)
        try engine.run()
        let difference = zip(engine.logits, training.logits).map { abs($0 - $1) }
        // BN folded or not, a value a rounding error from 0 can take the other sign; the logits stay close on the whole.
        let range = training.logits.max()! - training.logits.min()!
        #expect(difference.reduce(0, +) / Float(difference.count) < 0.01 * range, "mean |Δ| \(difference), range \(range)")
        // And the binarisation is really applied: the float plan differs by far more.
        let float = try InferenceNetwork(plan: plan, batch: batch, context: try ComputeContext(threads: 1))
        float.setInput(input)
        try float.run()
        let floatDifference = zip(float.logits, engine.logits).map { abs($0 - $1) }.max()!
        #expect(floatDifference > 0.05 * range, "binarised vs float: \(floatDifference)")
    }

    @Test("Scales follow a 1% moving average of mean |x|; backward leaves every tensor real, clips the straight-through gradient, and gives finite gradients")
    func training() throws {
        let network = Self.network
        let weights = NetworkWeights.random(for: network, seed: 4)
        let a = Self.input(2, seed: 1), b = Self.input(2, seed: 2).map { $0 * 3 }
        func binarised(after batches: [[Float]], evaluateAfter: Bool = false) throws -> (TrainingNetwork, [InputBinariser]) {
            let training = try TrainingNetwork.loaded(network, weights, batch: 2)
            let binarisers = try training.binariseInputs(ofConvolutions: try InferencePlan(network: network, weights: weights).binarisableConvolutions)
            try training.observe(batches, thenEvaluate: evaluateAfter ? a.map { $0 * 100 } : nil)
            return (training, binarisers)
        }
        func scale(_ binarisers: [InputBinariser]) throws -> Float { try #require(binarisers[0].binarisation?.scale) }
        let first = try scale(binarised(after: [a]).1), alone = try scale(binarised(after: [b]).1)
        let both = try scale(binarised(after: [a, b]).1)
        #expect(first != alone)
        #expect(abs(both - (first + 0.01 * (alone - first))) < 1e-5 * first, "\(first) → \(both), batch b alone \(alone)")
        #expect(try scale(binarised(after: [a, b], evaluateAfter: true).1) == both)

        let (training, binarisers) = try binarised(after: [a])
        let sources = binarisers.map { network.layers[$0.layer].inputs[0] }
        let before = try sources.map { try training.output(ofLayer: $0) }
        try training.setOutputGradient((0..<2 * network.classes).map { Float($0 % 3) - 1 })
        try training.backward()
        #expect(try sources.map { try training.output(ofLayer: $0) } == before, "a tensor left binarised after backward")
        for parameter in training.parameters {
            let finite: Bool = try parameter.gradients().allSatisfy { $0.isFinite }
            #expect(finite, "\(parameter.name)")
        }
        // The straight-through gradient is clipped: a tensor only a binarised convolution reads (a ReLU6
        // output feeding a depthwise convolution) gets none where |x| exceeds √(π/2) times the scale.
        let clipped = try #require(binarisers.first { b in
            let input = network.layers[b.layer].inputs[0]
            return network.layers[input].kind == .relu6 && network.layers.filter { $0.inputs.contains(input) }.count == 1
        })
        let input = network.layers[clipped.layer].inputs[0]
        let window = try #require(clipped.binarisation).scale * 1.2533141
        let values = try training.output(ofLayer: input), gradient = try training.gradient(ofLayer: input)
        #expect(values.contains { abs($0) > window } && values.contains { $0 != 0 && abs($0) <= window })
        #expect(zip(values, gradient).allSatisfy { abs($0) <= window || $1 == 0 }, "gradient beyond the window")
        #expect(zip(values, gradient).contains { abs($0) <= window && $1 != 0 }, "no gradient inside the window")
        let binarisedGradient = try #require(training.parameters.first { $0.name.layer == network.layers[binarisers[0].layer].name })
        let moved: Bool = try binarisedGradient.gradients().contains { $0 != 0 }
        #expect(moved)
    }
}
