import Engine
import Foundation
import Model
import GSLNumerics
import SearchSpace

/// A network of every op (MBConv with and without expansion, SE, separable,
/// full convolutions, residuals) in one kernel form, random weights, a batch
/// of random inputs, the CPU engine's logits on the weights as a model of
/// `precision` stores them, and a scratch folder.
struct ExportFixture {
    let architecture: Architecture
    let network: Network
    let plan: InferencePlan
    let batch: Int
    let inputs: [Float]
    let expected: [Float]
    let folder: String

    /// - Parameters:
    ///   - activationBits: quantise every tensor between steps (ranges the activations fix, else 4).
    ///   - binaryInputs: binarise the input of every convolution but the first (scale 0.7), as `xnor` does.
    init(kernel: String, precision: WeightPrecision, seed: UInt64, batch: Int, activationBits: Int? = nil,
         binaryInputs: Bool = false) throws {
        architecture = try Architecture(parsing:
            "r16_w1.0:stem_k3_s1_o16|mb_r1_k\(kernel)_s1_e1_o16|mb_r2_k\(kernel)_s2_e3_o24_se0.25|sep_r1_k\(kernel)_s1_o24"
                + "|conv_r2_k\(kernel)_s2_o32_se0.25|head_o64")
        network = Network(architecture)
        let float = try InferencePlan(network: network, weights: .random(for: network, seed: seed))
        if let bits = activationBits {
            plan = float.quantisingActivations(Dictionary(uniqueKeysWithValues: float.quantisableOutputs.map { output in
                (output.layer, ActivationQuantisation(bits: bits, signed: output.signed, range: output.fixedRange ?? 4))
            }))
        } else if binaryInputs {
            plan = float.binarisingInputs(Dictionary(uniqueKeysWithValues: float.binarisableConvolutions.map { ($0, BinaryInput(scale: 0.7)) }))
        } else {
            plan = float
        }
        self.batch = batch
        let stream = RandomStream(seed: seed, name: "input")
        inputs = (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
        let engine = try InferenceNetwork(plan: plan.storing(precision), batch: batch, context: try ComputeContext(threads: 1))
        engine.setInput(inputs)
        try engine.run()
        expected = engine.logits
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try inputs.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/inputs.f32")) }
        try expected.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/expected.f32")) }
    }

    /// The verifiers' arguments after the model's files.
    var data: [String] {
        [folder + "/inputs.f32", folder + "/expected.f32", "--shape", "\(batch),1,\(network.input.height),\(network.input.width)",
         "--classes", "\(network.classes)"]
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}
