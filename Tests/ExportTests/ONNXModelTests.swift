import Engine
import Export
import Foundation
import Model
import GSLNumerics
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

    /// Runs a verifier script with the venv's Python; its JSON report.
    static func verifier(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        #expect(FileManager.default.isExecutableFile(atPath: python),
                "no verifier environment at \(python): run scripts/python-env.sh (make test does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root.appendingPathComponent("scripts/" + script).path] + arguments
        let out = Pipe()
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-verifier-\(UUID().uuidString).txt").path
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errors) }
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: errors)
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")")
        return (try? JSONSerialization.jsonObject(with: stdout) as? [String: Any]) ?? [:]
    }

    @Test("Every op and kernel form: onnxruntime's logits equal the CPU engine's within 1e-4 on a batch",
          arguments: Architecture.KernelForm.allCases.map(\.description))
    func parity(kernel: String) throws { try check(kernel: kernel, precision: .fp32) }

    @Test("fp16 and int8 weights: onnxruntime equals the CPU engine on the weights the model stores",
          arguments: [("3", WeightPrecision.fp16), ("5f", .fp16), ("3", .int8), ("7s", .int8)])
    func variants(kernel: String, precision: WeightPrecision) throws { try check(kernel: kernel, precision: precision) }

    @Test("Quantised activations: a QuantizeLinear → DequantizeLinear pair per tensor (a Clip first below 8 bits); onnxruntime as written equals the CPU engine",
          arguments: [8, 4])
    func quantisedActivations(bits: Int) throws {
        let fixture = try ExportFixture(kernel: "3", precision: .fp32, seed: 11, batch: 5, activationBits: bits)
        defer { fixture.remove() }
        let path = fixture.folder + "/model.onnx"
        try ONNXModel(plan: fixture.plan).serialized().write(to: URL(fileURLWithPath: path))
        let report = try Self.verifier("verify_onnx.py", [path] + fixture.data + ["--literal"])
        let nodes = try #require(report["nodes"] as? [String])
        #expect(nodes.contains("QuantizeLinear") && nodes.contains("DequantizeLinear"))
        let quantised = fixture.plan.steps.filter { $0.outputQuantisation != nil }.count
        #expect(quantised == fixture.plan.steps.count - 1)
        let counts = try Self.nodeCounts(path)
        #expect(counts["QuantizeLinear"] == quantised && counts["DequantizeLinear"] == quantised)
        // Clip: one per ReLU6 (in the float model too), plus one per quantised tensor below 8 bits.
        let relu6 = fixture.plan.steps.reduce(0) { count, step in
            count + step.postOps.filter { $0 == .activation(.relu6) }.count + (step.finalActivation == .relu6 && step.postOps.isEmpty ? 1 : 0)
        }
        #expect(counts["Clip"] == relu6 + (bits < 8 ? quantised : 0), "\(counts)")
        // As written (optimisations off), up to sums landing one code away: a few values move, the mean hardly.
        let range = fixture.expected.max()! - fixture.expected.min()!
        let mean = try #require(report["mean_abs_diff"] as? Double)
        #expect(mean <= 0.05 * Double(range), "mean |Δ| \(mean) on logits spanning \(range), max \(report["max_abs_diff"] ?? "")")
        #expect(report["top1_agreement"] as? Double == 1)
        #expect(report["optimised_top1_agreement"] != nil)
        // And quantisation is real: the float plan's logits are not these.
        let float = try InferencePlan(network: fixture.network, weights: .random(for: fixture.network, seed: 11))
        let engine = try InferenceNetwork(plan: float, batch: fixture.batch, context: try ComputeContext(threads: 1))
        engine.setInput(fixture.inputs)
        try engine.run()
        #expect(zip(engine.logits, fixture.expected).map { abs($0 - $1) }.max()! > 1e-4)
    }

    @Test("Binary convolution inputs (xnor) are Sign → Mul before each convolution but the first; onnxruntime computes the file as written")
    func binaryInputs() throws {
        let fixture = try ExportFixture(kernel: "3", precision: .fp32, seed: 11, batch: 5, binaryInputs: true)
        defer { fixture.remove() }
        let path = fixture.folder + "/model.onnx"
        try ONNXModel(plan: fixture.plan).serialized().write(to: URL(fileURLWithPath: path))
        let binarised = fixture.plan.steps.filter { $0.inputBinarisation != nil }.count
        #expect(binarised == fixture.plan.binarisableConvolutions.count && binarised > 5)
        let counts = try Self.nodeCounts(path)
        let float = try Self.nodeCounts(try Self.write(InferencePlan(network: fixture.network, weights: .random(for: fixture.network, seed: 11)),
                                                          to: fixture.folder + "/float.onnx"))
        #expect(counts["Sign"] == binarised && float["Sign"] == nil)
        #expect(counts["Mul"] == (float["Mul"] ?? 0) + binarised && counts["Conv"] == float["Conv"], "\(counts) vs \(float)")
        let report = try Self.verifier("verify_onnx.py", [path] + fixture.data + ["--literal"])
        let range = fixture.expected.max()! - fixture.expected.min()!
        let mean = try #require(report["mean_abs_diff"] as? Double)
        #expect(mean <= 0.01 * Double(range), "mean |Δ| \(mean) on logits spanning \(range), max \(report["max_abs_diff"] ?? "")")
        #expect(report["top1_agreement"] as? Double == 1)
    }

    static func write(_ plan: InferencePlan, to path: String) throws -> String {
        try ONNXModel(plan: plan).serialized().write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Operators in an ONNX file, counted by type.
    static func nodeCounts(_ path: String) throws -> [String: Int] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import sys, json, collections, onnx; json.dump(collections.Counter(n.op_type for n in onnx.load(sys.argv[1]).graph.node), sys.stdout)", path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONDecoder().decode([String: Int].self, from: data)
    }

    func check(kernel: String, precision: WeightPrecision) throws {
        let fixture = try ExportFixture(kernel: kernel, precision: precision, seed: 11, batch: 5)
        defer { fixture.remove() }
        let architecture = fixture.architecture
        let metadata = ["arch": architecture.description, "hash": architecture.hash]
        let path = fixture.folder + "/model.onnx"
        try ONNXModel(plan: fixture.plan, precision: precision, metadata: metadata).serialized().write(to: URL(fileURLWithPath: path))
        let report = try Self.verifier("verify_onnx.py", [path] + fixture.data)
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
