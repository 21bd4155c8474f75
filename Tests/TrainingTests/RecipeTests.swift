import Engine
import Foundation
import Model
import GSLNumerics
import SearchSpace
import Testing
@testable import Training

@Suite("Training recipe")
struct RecipeTests {
    @Test("Warm-up rises linearly to the peak, then cosine decays to zero")
    func schedule() {
        let s = LearningRateSchedule(peak: 0.1, warmupSteps: 10, totalSteps: 110)
        #expect(abs(s.rate(atStep: 0) - 0.01) < 1e-12)
        #expect(abs(s.rate(atStep: 9) - 0.1) < 1e-12)
        #expect(abs(s.rate(atStep: 10) - 0.1) < 1e-12)
        #expect(abs(s.rate(atStep: 60) - 0.05) < 1e-12)
        #expect(s.rate(atStep: 109) < 1e-3)
    }

    @Test("Softmax cross-entropy: value, label smoothing and gradient against finite differences")
    func crossEntropy() {
        let logits: [Float] = [2, -1, 0.5, 0, 3, -2]  // two rows of three classes
        let labels: ArraySlice<UInt8> = [0, 2]
        for smoothing: Float in [0, 0.1] {
            let loss = SoftmaxCrossEntropy(labelSmoothing: smoothing)
            var gradient = [Float](repeating: 0, count: 6)
            let (value, correct) = logits.withUnsafeBufferPointer { z in
                gradient.withUnsafeMutableBufferPointer { loss.evaluate(logits: z, labels: labels, classes: 3, gradient: $0) }
            }
            #expect(correct == 1)
            if smoothing == 0 {
                let expected = (-log(exp(2.0) / (exp(2.0) + exp(-1.0) + exp(0.5))) - log(exp(-2.0) / (1 + exp(3.0) + exp(-2.0)))) / 2
                #expect(abs(value - expected) < 1e-5)
            }
            for i in 0..<6 {
                var plus = logits, minus = logits
                plus[i] += 1e-2
                minus[i] -= 1e-2
                let f = { (z: [Float]) in z.withUnsafeBufferPointer { loss.evaluate(logits: $0, labels: labels, classes: 3).loss } }
                #expect(abs((f(plus) - f(minus)) / 2e-2 - Double(gradient[i])) < 1e-3)
            }
        }
    }
}

@Suite("Training on the real data", .serialized)
struct TrainingRunTests {
    static let arch = "r28_w0.5:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|mb_r2_k5s_s2_e3_o32_se0.25|sep_r1_k3f_s1_o64|head_o128"

    static func train(seed: UInt64, subset: Int = 3_000, epochs: Int = 1) throws -> (Trainer, TrainingResult) {
        let split = try DatasetSplit.load()
        let configuration = TrainingConfiguration(epochs: epochs, subset: subset, batch: 64, learningRate: 0.1,
                                                  warmupEpochs: 0.2, labelSmoothing: 0.1, seed: seed)
        let trainer = try Trainer(architecture: try Architecture(parsing: arch), split: split,
                                  configuration: configuration, context: try ComputeContext(threads: 2))
        return (trainer, try trainer.train())
    }

    @Test("A short real training beats chance (10%) by a wide margin")
    func learns() throws {
        let (_, result) = try Self.train(seed: 1, subset: 6_000, epochs: 2)
        let accuracy = try #require(result.validationAccuracy)
        #expect(accuracy > 0.6, "validation accuracy \(accuracy)")
        #expect(result.divergedAtStep == nil)
    }

    @Test("Same seed, same threads: bit-identical weights; another seed differs")
    func determinism() throws {
        func checksum(_ trainer: Trainer) throws -> [UInt32] {
            var sums: [UInt32] = []
            for parameter in trainer.network.parameters {
                sums.append(try parameter.values().reduce(UInt32(0)) { $0 &* 31 &+ $1.bitPattern })
            }
            for (_, mean, variance) in trainer.network.runningStatistics() {
                sums.append((mean + variance).reduce(UInt32(0)) { $0 &* 31 &+ $1.bitPattern })
            }
            return sums
        }
        let (a, ra) = try Self.train(seed: 5, subset: 1_000)
        let (b, rb) = try Self.train(seed: 5, subset: 1_000)
        let (c, _) = try Self.train(seed: 6, subset: 1_000)
        #expect(try checksum(a) == checksum(b))
        #expect(ra.validationAccuracy == rb.validationAccuracy)
        #expect(try checksum(a) != checksum(c))
    }

    @Test("Weights saved and loaded give the same predictions; a damaged file is refused")
    func weightsFile() throws {
        let (trainer, result) = try Self.train(seed: 2, subset: 640)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-\(UUID().uuidString).weights").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try WeightsFile(network: trainer.network, architecture: trainer.architecture).write(to: path)

        let file = try WeightsFile.read(from: path)
        #expect(file.architecture == Self.arch)
        let fresh = try Trainer(architecture: trainer.architecture, split: try DatasetSplit.load(),
                                configuration: trainer.configuration, context: try ComputeContext(threads: 2))
        try file.load(into: fresh.network)
        let split = try DatasetSplit.load()
        #expect(try fresh.evaluate(split.validation).accuracy == result.validationAccuracy)

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try WeightsFile.read(from: path)
            Issue.record("a damaged file was read")
        } catch {
            #expect(error.description.contains("checksum"))
        }
    }

    @Test("Overflowing logits end in a 'diverged' result, not a crash")
    func diverges() throws {
        let split = try DatasetSplit.load()
        let configuration = TrainingConfiguration(epochs: 1, subset: 640, batch: 64, learningRate: 10,
                                                  warmupEpochs: 0, labelSmoothing: 0, seed: 1)
        var huge = configuration
        huge.weightDecay = 0
        let trainer = try Trainer(architecture: try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|conv_r1_k3_s1_o16_noskip|head_o64"),
                                  split: split, configuration: huge, context: try ComputeContext(threads: 2))
        // Weights near Float.greatestFiniteMagnitude: the first logits overflow to ±inf.
        for parameter in trainer.network.parameters where parameter.role == .linearWeight {
            try parameter.setValues(try parameter.values().map { $0 < 0 ? -3e38 : 3e38 })
        }
        let result = try trainer.train()
        #expect(result.divergedAtStep != nil)
        #expect(result.validationAccuracy == nil)
    }
}

@Suite("Inference engines on trained weights", .serialized)
struct TrainedParityTests {
    @Test("After real training (BN statistics learnt), the CPU engine equals the trainer's evaluation pass within 1e-4")
    func cpuEngine() throws {
        let (trainer, _) = try TrainingRunTests.train(seed: 8, subset: 640)
        let weights = try trainer.network.weights()
        let network = Network(trainer.architecture)
        let engine = try InferenceNetwork(network: network, weights: weights, context: try ComputeContext(threads: 1))
        let reference = try TrainingNetwork(network: network, batch: 1, context: try ComputeContext(threads: 1),
                                            initialisation: RandomStream(seed: 0, name: "unused"))
        try reference.load(weights)
        let pipeline = try InputPipeline(try FashionMNIST.test().subset(Array(0..<20)), resolution: trainer.architecture.resolution)
        for i in 0..<20 {
            engine.setInput(reference.withInput { buffer in
                pipeline.fill(buffer, indices: [i], augmentation: nil)
                return Array(buffer)
            })
            try reference.forward(training: false)
            try engine.run()
            let difference = zip(engine.logits, reference.logits).map { abs($0 - $1) }.max()!
            #expect(difference < 1e-4, "image \(i): max |Δ| \(difference)")
        }
    }
}
