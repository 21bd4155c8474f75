import Core
import Engine
import Export
import Foundation
import Model
import Numerics
import SearchSpace
import Testing

/// Every exported ncnn model is run by ncnn itself (PyPI's `ncnn`), on its
/// CPU path and on its Vulkan path (lavapipe here), against the CPU engine.
@Suite("ncnn export, run by ncnn on the CPU and through Vulkan")
struct NCNNModelTests {
    static func run(_ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ONNXModelTests.python)
        process.arguments = [ONNXModelTests.root.appendingPathComponent("scripts/verify_ncnn.py").path] + arguments
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

    @Test("Every op and kernel form: ncnn's logits equal the CPU engine's within 1e-4, CPU and Vulkan paths",
          arguments: Architecture.KernelForm.allCases.map(\.description))
    func parity(kernel: String) throws { try check(kernel: kernel, precision: .fp32) }

    @Test("fp16 weight storage: ncnn equals the CPU engine on the same weights read back from half precision",
          arguments: ["3", "5s", "7f"])
    func halfPrecision(kernel: String) throws { try check(kernel: kernel, precision: .fp16) }

    @Test("int8 is refused for ncnn, saying where it is available")
    func noInt8() throws {
        let network = Network(try Architecture(parsing: ONNXModelTests.architecture(kernel: "3")))
        let plan = try InferencePlan(network: network, weights: .random(for: network, seed: 12))
        #expect(throws: NasError.self) { _ = try NCNNModel(plan: plan, precision: .int8) }
    }

    func check(kernel: String, precision: WeightPrecision) throws {
        let architecture = try Architecture(parsing: ONNXModelTests.architecture(kernel: kernel))
        let network = Network(architecture)
        let plan = try InferencePlan(network: network, weights: .random(for: network, seed: 12))
        let batch = 4
        let stream = RandomStream(seed: 4, name: "input")
        let inputs = (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
        // The CPU engine on the weights as the model stores them.
        let engine = try InferenceNetwork(plan: plan.storing(precision), batch: batch, context: try ComputeContext(threads: 1))
        engine.setInput(inputs)
        try engine.run()

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-ncnn-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try NCNNModel(plan: plan, precision: precision)
        try model.param.write(toFile: folder + "/model.param", atomically: true, encoding: .utf8)
        try model.bin.write(to: URL(fileURLWithPath: folder + "/model.bin"))
        try inputs.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/inputs.f32")) }
        try engine.logits.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: folder + "/expected.f32")) }
        let common = [folder + "/model.param", folder + "/model.bin", folder + "/inputs.f32", folder + "/expected.f32",
                      "--shape", "\(batch),1,\(network.input.height),\(network.input.width)", "--classes", "\(network.classes)"]
        for path in ["cpu", "vulkan"] {
            let report = try Self.run(common + (path == "vulkan" ? ["--vulkan"] : []))
            let difference = try #require(report["max_abs_diff"] as? Double)
            #expect(difference < 1e-4, "max |Δ| \(difference) for kernel \(kernel) on ncnn's \(path) path")
            #expect(report["top1_agreement"] as? Double == 1, "\(path)")
            #expect(report["path"] as? String == path)
            if path == "vulkan" { #expect((report["device"] as? String)?.isEmpty == false, "ncnn names the Vulkan device it ran on") }
        }
        // The residual adds and SE branches read blobs twice: ncnn wants them split.
        #expect(model.param.contains("Split"))
        #expect(model.param.hasPrefix("7767517\n"))
    }
}
