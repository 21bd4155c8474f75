import Core
import Engine
import Export
import Foundation
import Model
import GSLNumerics
import SearchSpace
import Testing

/// Every exported ncnn model is run by ncnn itself (PyPI's `ncnn`), on its
/// CPU path and on its Vulkan path (lavapipe here), against the CPU engine.
@Suite("ncnn export, run by ncnn on the CPU and through Vulkan")
struct NCNNModelTests {
    @Test("Every op and kernel form: ncnn's logits equal the CPU engine's within 1e-4, CPU and Vulkan paths",
          arguments: Architecture.KernelForm.allCases.map(\.description))
    func parity(kernel: String) throws { try check(kernel: kernel, precision: .fp32) }

    @Test("fp16 weight storage: ncnn equals the CPU engine on the same weights read back from half precision",
          arguments: ["3", "5s", "7f"])
    func halfPrecision(kernel: String) throws { try check(kernel: kernel, precision: .fp16) }

    @Test("int8 is refused for ncnn, saying where it is available")
    func noInt8() throws {
        let fixture = try ExportFixture(kernel: "3", precision: .fp32, seed: 12, batch: 1)
        defer { fixture.remove() }
        #expect(throws: NasError.self) { _ = try NCNNModel(plan: fixture.plan, precision: .int8) }
    }

    func check(kernel: String, precision: WeightPrecision) throws {
        let fixture = try ExportFixture(kernel: kernel, precision: precision, seed: 12, batch: 4)
        defer { fixture.remove() }
        let model = try NCNNModel(plan: fixture.plan, precision: precision)
        try model.param.write(toFile: fixture.folder + "/model.param", atomically: true, encoding: .utf8)
        try model.bin.write(to: URL(fileURLWithPath: fixture.folder + "/model.bin"))
        let common = [fixture.folder + "/model.param", fixture.folder + "/model.bin"] + fixture.data
        for path in ["cpu", "vulkan"] {
            let report = try ONNXModelTests.verifier("verify_ncnn.py", common + (path == "vulkan" ? ["--vulkan"] : []))
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
