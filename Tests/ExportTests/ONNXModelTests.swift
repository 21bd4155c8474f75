import Engine
import Export
import Foundation
import Model
import Numerics
import SearchSpace
import Testing

/// The real runtime's view: every exported model is loaded by onnx's full
/// checker and run by onnxruntime, in the virtual environment
/// `scripts/python-env.sh` makes (`make test` runs it first).
@Suite("ONNX export, checked by onnx and onnxruntime")
struct ONNXModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var python: String {
        ProcessInfo.processInfo.environment["NASD_PYTHON"] ?? root.appendingPathComponent(".build/venv/bin/python").path
    }

    /// Runs scripts/verify_onnx.py; its JSON report.
    static func verify(model: String, inputs: [Float], expected: [Float], shape: [Int], classes: Int) throws -> [String: Any] {
        #expect(FileManager.default.isExecutableFile(atPath: python),
                "no verifier environment at \(python): run scripts/python-env.sh (make test does)")
        let folder = (model as NSString).deletingLastPathComponent
        try inputs.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/inputs.f32")) }
        try expected.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/expected.f32")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root.appendingPathComponent("scripts/verify_onnx.py").path, model, folder + "/inputs.f32",
                             folder + "/expected.f32", "--shape", shape.map(String.init).joined(separator: ","),
                             "--classes", "\(classes)"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(stderr)")
        return (try? JSONSerialization.jsonObject(with: stdout) as? [String: Any]) ?? [:]
    }

    static func architecture(kernel: String) -> String {
        "r16_w1.0:stem_k3_s1_o16|mb_r1_k\(kernel)_s1_e1_o16|mb_r2_k\(kernel)_s2_e3_o24_se0.25|sep_r1_k\(kernel)_s1_o24"
            + "|conv_r2_k\(kernel)_s2_o32_se0.25|head_o64"
    }

    @Test("Every op and kernel form: onnxruntime's logits equal the CPU engine's within 1e-4 on a batch",
          arguments: Architecture.KernelForm.allCases.map(\.description))
    func parity(kernel: String) throws { try check(kernel: kernel, precision: .fp32) }

    @Test("fp16 and int8 weights: onnxruntime equals the CPU engine on the weights the model stores",
          arguments: [("3", WeightPrecision.fp16), ("5f", .fp16), ("3", .int8), ("7s", .int8)])
    func variants(kernel: String, precision: WeightPrecision) throws { try check(kernel: kernel, precision: precision) }

    func check(kernel: String, precision: WeightPrecision) throws {
        let architecture = try Architecture(parsing: Self.architecture(kernel: kernel))
        let network = Network(architecture)
        let plan = try InferencePlan(network: network, weights: .random(for: network, seed: 11))
        let batch = 5
        let stream = RandomStream(seed: 3, name: "input")
        let inputs = (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
        // The CPU engine on the weights as the model stores them.
        let engine = try InferenceNetwork(plan: plan.storing(precision), batch: batch, context: try ComputeContext(threads: 1))
        engine.setInput(inputs)
        try engine.run()

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-onnx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let metadata = ["arch": architecture.description, "hash": architecture.hash]
        let path = folder + "/model.onnx"
        try ONNXModel(plan: plan, precision: precision, metadata: metadata).serialized().write(to: URL(fileURLWithPath: path))

        let report = try Self.verify(model: path, inputs: inputs, expected: engine.logits,
                                     shape: [batch, 1, network.input.height, network.input.width], classes: network.classes)
        let difference = try #require(report["max_abs_diff"] as? Double)
        #expect(difference < 1e-4, "max |Δ| \(difference) for kernel \(kernel)")
        #expect(report["top1_agreement"] as? Double == 1)
        #expect(report["opset"] as? Int == 13)
        let declaredInputs = try #require(report["inputs"] as? [String: [Any]])
        #expect(declaredInputs["image"]?.first as? String == "N")
        #expect(declaredInputs["image"]?.dropFirst().compactMap { $0 as? Int } == [1, 16, 16])
        let outputs = try #require(report["outputs"] as? [String: [Any]])
        #expect(outputs["logits"]?.first as? String == "N")
        #expect(outputs["logits"]?.last as? Int == 10)
        #expect(report["metadata"] as? [String: String] == metadata)
        // BN is folded (no BatchNormalization), ReLU6 is Clip, SE multiplies, residuals add.
        let nodes = try #require(report["nodes"] as? [String])
        let readBack: Set<String> = precision == .fp16 ? ["Cast"] : precision == .int8 ? ["DequantizeLinear"] : []
        #expect(Set(nodes) == Set(["Conv", "Clip", "Add", "GlobalAveragePool", "Relu", "Sigmoid", "Mul", "Flatten", "Gemm"]).union(readBack))
    }
}
