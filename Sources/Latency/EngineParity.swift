import Core
import Engine
package import Model
package import SearchSpace
public import VulkanEngine

private func maxDifference(_ a: [Float], _ b: [Float]) -> Double {
    Double(zip(a, b).map { abs($0 - $1) }.max() ?? 0)
}

extension LogitAgreement {
    var summary: ParityReport.EngineSummary {
        .init(top1Agreement: top1Rate, top5Agreement: top5Rate, maxLogitDifference: maxDifference)
    }
}

/// The CPU and Vulkan engines against the trainer's evaluation pass, on the
/// same weights and inputs (`nas parity`): per layer that an engine
/// materialises (the last of each fused group), the max |Δ| on the first
/// image; over all images, how often each engine's top-1 class and top-5 set
/// equal the reference's. Without a Vulkan device the CPU is checked alone
/// and the report says why.
public struct ParityReport: Encodable, Sendable {
    public struct LayerDifference: Encodable, Sendable {
        public let layer: String
        public let cpu: Double
        public let vulkan: Double?
    }

    public struct EngineSummary: Encodable, Sendable {
        public let top1Agreement, top5Agreement, maxLogitDifference: Double
        enum CodingKeys: String, CodingKey {
            case top1Agreement = "top1_agreement", top5Agreement = "top5_agreement", maxLogitDifference = "max_logit_abs_diff"
        }
    }

    public let arch, weights: String
    public let images: Int
    public let layers: [LayerDifference]
    public let cpu: EngineSummary
    public let vulkan: EngineSummary?
    public let vulkanDevice, vulkanError: String?
    /// How the Vulkan engine stored values (fp16: its own tolerance).
    public let vulkanPrecision: VulkanPrecision

    enum CodingKeys: String, CodingKey {
        case arch, weights, images, layers, cpu, vulkan
        case vulkanDevice = "vulkan_device", vulkanError = "vulkan_error", vulkanPrecision = "vulkan_precision"
    }

    /// Runs the comparison on `images` inputs; `image(i, buffer)` writes input
    /// `i` (C×H×W) into `buffer`, and `progress` hears the count done.
    package init(network: Network, weights: NetworkWeights, weightsLabel: String, images: Int, vulkanPrecision: VulkanPrecision = .fp32,
                image: (Int, UnsafeMutableBufferPointer<Float>) -> Void, progress: (Int) -> Void = { _ in }) throws {
        let context = try ComputeContext(threads: 1)
        let reference = try TrainingNetwork(network: network, batch: 1, context: context, layout: .nhwc,
                                            initialisation: .init(seed: 0, name: "unused"))
        try reference.load(weights)
        let plan = try InferencePlan(network: network, weights: weights)
        let cpuEngine = try InferenceNetwork(plan: plan, context: context)
        var vulkanErrorText: String?
        var gpu: VulkanNetwork?
        var deviceName: String?
        do {
            let context = try VulkanContext()
            deviceName = context.deviceName
            gpu = try VulkanNetwork(plan: plan, context: context, precision: vulkanPrecision)
        } catch {
            vulkanErrorText = "\(error)"
        }

        var cpuAgreement = LogitAgreement(), gpuAgreement = LogitAgreement()
        var layers: [ParityReport.LayerDifference] = []
        for i in 0..<images {
            let input = reference.withInput { buffer in
                image(i, buffer)
                return Array(buffer)
            }
            try reference.forward(training: false)
            cpuEngine.setInput(input)
            try cpuEngine.run()
            if let gpu {
                gpu.setInput(input)
                try gpu.run()
            }
            if i == 0 {
                for step in plan.steps {
                    let expected = try reference.output(ofLayer: step.output)
                    let cpuOut = try cpuEngine.output(ofLayer: step.output)!
                    layers.append(.init(layer: network.layers[step.output].name,
                                        cpu: maxDifference(expected, cpuOut),
                                        vulkan: gpu?.output(ofLayer: step.output).map { maxDifference(expected, $0) }))
                }
            }
            let expected = reference.logits
            cpuAgreement.add(reference: expected, engine: cpuEngine.logits)
            if let gpu { gpuAgreement.add(reference: expected, engine: gpu.logits) }
            progress(i + 1)
        }

        arch = network.architecture.description
        self.weights = weightsLabel
        self.images = images
        self.layers = layers
        cpu = cpuAgreement.summary
        vulkan = gpu == nil ? nil : gpuAgreement.summary
        self.vulkanDevice = gpu == nil ? nil : deviceName
        self.vulkanError = vulkanErrorText
        self.vulkanPrecision = vulkanPrecision
    }
}
