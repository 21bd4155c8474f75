import Engine
import Model
import GSLNumerics
import SearchSpace
import Foundation
import Testing
import VulkanEngine

@Suite("Vulkan engine", .serialized)
struct VulkanParityTests {
    // One device for the suite (serialized): creating it compiles and loads every pipeline.
    nonisolated(unsafe) static let context: VulkanContext? = try? VulkanContext()

    static func architectures(kernel: String) -> [String] {
        [
            "r16_w1.0:stem_k3_s1_o16|mb_r1_k\(kernel)_s1_e1_o16|mb_r2_k\(kernel)_s2_e3_o24_se0.25|sep_r1_k\(kernel)_s1_o24"
                + "|conv_r2_k\(kernel)_s2_o32_se0.25|head_o64",
            "r20_w0.75:stem_k3_s2_o16|conv_r1_k\(kernel)_s1_o16|sep_r2_k\(kernel)_s2_o24_se0.5_noskip|head_o48",
        ]
    }

    @Test("A Vulkan device is present (lavapipe here) and named")
    func device() throws {
        let context = try VulkanContext()
        #expect(!context.deviceName.isEmpty)
        #expect(context.apiVersion.hasPrefix("1."))
    }

    /// fp32 agrees to rounding (absolute); fp16 storage rounds every stored
    /// value to 11 significant bits (2^-11 relative), layer after layer, so
    /// its bound is relative to the layer's largest value (at least 1).
    /// Random weights amplify it: mbv2-fm's deepest layers reach 3% of their
    /// range here, where trained weights stay under 0.02 absolute (README).
    static func tolerance(_ precision: VulkanPrecision) -> Float { precision == .fp32 ? 1e-4 : 5e-2 }

    /// Runs `architecture` with random weights (`seed`) on both engines and
    /// checks every step's output against the CPU engine's; returns the Vulkan run.
    @discardableResult
    static func compare(_ architecture: Architecture, seed: UInt64, precision: VulkanPrecision,
                        context: VulkanContext) throws -> VulkanNetwork {
        let network = Network(architecture)
        let plan = try InferencePlan(network: network, weights: .random(for: network, seed: seed))
        let stream = RandomStream(seed: 1, name: "input")
        let input = (0..<network.input.elements).map { _ in Float(stream.normal()) }
        let cpu = try InferenceNetwork(plan: plan, context: try ComputeContext(threads: 1))
        cpu.setInput(input)
        try cpu.run()
        let gpu = try VulkanNetwork(plan: plan, context: context, precision: precision)
        gpu.setInput(input)
        try gpu.run()
        for step in plan.steps {
            let expected = try #require(try cpu.output(ofLayer: step.output))
            let actual = try #require(gpu.output(ofLayer: step.output))
            let difference = zip(expected, actual).map { abs($0 - $1) }.max()!
            let scale = precision == .fp32 ? 1 : max(1, expected.map(abs).max()!)
            #expect(difference < tolerance(precision) * scale,
                    "\(network.layers[step.output].name): max |Δ| \(difference) of \(scale) (\(architecture), \(precision))")
        }
        return gpu
    }

    @Test("Within tolerance of the CPU engine at every materialised layer, for every op, kernel form and precision",
          arguments: Architecture.KernelForm.allCases.map(\.description), VulkanPrecision.allCases)
    func parity(kernel: String, precision: VulkanPrecision) throws {
        let context = try #require(Self.context, "no Vulkan device")
        for text in Self.architectures(kernel: kernel) {
            let gpu = try Self.compare(try Architecture(parsing: text), seed: 3, precision: precision, context: context)
            #expect(gpu.logits.count == 10)
            if let gpuTime = gpu.gpuMilliseconds { #expect(gpuTime > 0) }
        }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("Within tolerance of the CPU engine at every step on the reference networks and architectures sampled from mnasnet-fm (fp32: 1e-4; fp16 storage: 5% of the layer's largest value)",
          arguments: VulkanPrecision.allCases)
    func parityAtScale(precision: VulkanPrecision) throws {
        let context = try #require(Self.context, "no Vulkan device")
        let reference = try Architecture(contentsOf: Self.root.appendingPathComponent("SearchSpaces/reference/mbv2-fm.arch").path)
        let space = try SearchSpace(contentsOf: Self.root.appendingPathComponent("SearchSpaces/mnasnet-fm.yaml").path)
        for architecture in [reference] + space.sample(count: 4, from: RandomStream(seed: 1, name: "sample")) {
            try Self.compare(architecture, seed: 5, precision: precision, context: context)
        }
    }

    @Test("Running twice gives the same output: buffers and command buffer are reused")
    func rerun() throws {
        let context = try #require(Self.context, "no Vulkan device")
        let network = Network(try Architecture(parsing: Self.architectures(kernel: "3")[0]))
        let gpu = try VulkanNetwork(plan: try InferencePlan(network: network, weights: .random(for: network, seed: 1)),
                                    context: context)
        gpu.withInput { buffer in for i in buffer.indices { buffer[i] = Float(i % 7) } }
        try gpu.run()
        let first = gpu.logits
        try gpu.run()
        #expect(gpu.logits == first)
    }
}
