import ArgumentParser
import Core
import Engine
import Model
import Foundation
import SearchSpace
import Training
import VulkanEngine

struct ParityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parity",
        abstract: "Compare the CPU and Vulkan engines with the trainer, layer by layer and over the test set.",
        discussion: """
        Runs the trainer's evaluation-mode forward pass (the reference), the CPU engine and the \
        Vulkan engine on the same weights and inputs. Per layer that an engine materialises (the \
        last of each fused group), the max |Δ| against the reference on the first test image; over \
        --images test images, how often each engine's top-1 class and top-5 set equal the \
        reference's. Weights come from `nas train --save FILE` or are random with --seed.
        """
    )

    @Option(help: "Architecture string or .arch file.")
    var arch: String

    @Option(help: "Weights from `nas train --save` (default: random weights from --seed).")
    var weights: String?

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 0

    @Option(help: "Test images for the agreement figures (1...10000).")
    var images = 10_000

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard (1...10_000).contains(images) else { throw ValidationError("--images must be in 1...10000.") }
    }

    func run() throws {
        let architecture = try Architecture(argument: arch)
        let network = Network(architecture)
        var weights = NetworkWeights.random(for: network, seed: seed)
        if let path = self.weights {
            let file = try WeightsFile.read(from: path)
            guard file.architecture == architecture.description else {
                throw NasError.invalidInput("\(path) holds weights for \(file.architecture), not \(architecture)")
            }
            weights = file.weights
        }
        let test = try FashionMNIST.test()
        let pipeline = InputPipeline(test.subset(Array(0..<images)), resolution: architecture.resolution)

        let context = try ComputeContext(threads: 1)
        let reference = try TrainingNetwork(network: network, batch: 1, context: context, layout: .nhwc,
                                            initialisation: .init(seed: 0, name: "unused"))
        try reference.load(weights)
        let plan = try InferencePlan(network: network, weights: weights)
        let cpu = try InferenceNetwork(plan: plan, context: context)
        var vulkanError: String?
        var gpu: VulkanNetwork?
        var vulkanDevice: String?
        do {
            let context = try VulkanContext()
            vulkanDevice = context.deviceName
            gpu = try VulkanNetwork(plan: plan, context: context)
        } catch {
            vulkanError = "\(error)"
        }

        var cpuAgreement = Agreement(), gpuAgreement = Agreement()
        var layers: [ParityReport.LayerDifference] = []
        var bar = ProgressBar()
        for i in 0..<images {
            let image = reference.withInput { buffer in
                pipeline.fill(buffer, indices: [i], augmentation: nil)
                return Array(buffer)
            }
            try reference.forward(training: false)
            cpu.setInput(image)
            try cpu.run()
            if let gpu {
                gpu.setInput(image)
                try gpu.run()
            }
            if i == 0 {
                for step in plan.steps {
                    let expected = try reference.output(ofLayer: step.output)
                    let cpuOut = try cpu.output(ofLayer: step.output)!
                    layers.append(.init(layer: network.layers[step.output].name,
                                        cpu: maxDifference(expected, cpuOut),
                                        vulkan: gpu?.output(ofLayer: step.output).map { maxDifference(expected, $0) }))
                }
            }
            let expected = reference.logits
            cpuAgreement.add(reference: expected, engine: cpu.logits)
            if let gpu { gpuAgreement.add(reference: expected, engine: gpu.logits) }
            bar.update(fraction: Double(i + 1) / Double(images), detail: "\(i + 1)/\(images) images", force: i + 1 == images)
        }
        bar.finish()

        let report = ParityReport(arch: architecture.description, weights: self.weights ?? "random (seed \(seed))",
                                  images: images, layers: layers, cpu: cpuAgreement.summary,
                                  vulkan: gpu == nil ? nil : gpuAgreement.summary,
                                  vulkanDevice: gpu == nil ? nil : vulkanDevice,
                                  vulkanError: vulkanError)
        if json { try printJSON(report) } else { print(report.text) }
    }
}

private func maxDifference(_ a: [Float], _ b: [Float]) -> Double {
    Double(zip(a, b).map { abs($0 - $1) }.max() ?? 0)
}

/// Top-1 and top-5 agreement with the reference, and the largest logit difference.
struct Agreement {
    private(set) var images = 0
    private(set) var top1 = 0
    private(set) var top5 = 0
    private(set) var maxDifference = 0.0

    mutating func add(reference: [Float], engine: [Float]) {
        images += 1
        let order = { (z: [Float]) in z.indices.sorted { z[$0] > z[$1] } }
        let r = order(reference), e = order(engine)
        if r[0] == e[0] { top1 += 1 }
        if Set(r.prefix(5)) == Set(e.prefix(5)) { top5 += 1 }
        maxDifference = max(maxDifference, zip(reference, engine).map { Double(abs($0 - $1)) }.max() ?? 0)
    }

    var summary: ParityReport.EngineSummary {
        .init(top1Agreement: Double(top1) / Double(max(1, images)), top5Agreement: Double(top5) / Double(max(1, images)),
              maxLogitDifference: maxDifference)
    }
}

struct ParityReport: Encodable {
    struct LayerDifference: Encodable {
        let layer: String
        let cpu: Double
        let vulkan: Double?
    }

    struct EngineSummary: Encodable {
        let top1Agreement, top5Agreement, maxLogitDifference: Double
        enum CodingKeys: String, CodingKey {
            case top1Agreement = "top1_agreement", top5Agreement = "top5_agreement", maxLogitDifference = "max_logit_abs_diff"
        }
    }

    let arch, weights: String
    let images: Int
    let layers: [LayerDifference]
    let cpu: EngineSummary
    let vulkan: EngineSummary?
    let vulkanDevice, vulkanError: String?

    enum CodingKeys: String, CodingKey {
        case arch, weights, images, layers, cpu, vulkan
        case vulkanDevice = "vulkan_device", vulkanError = "vulkan_error"
    }

    var text: String {
        var rows = [["layer", "max |Δ| cpu", "max |Δ| vulkan"]]
        for l in layers {
            rows.append([l.layer, String(format: "%.2e", l.cpu), l.vulkan.map { String(format: "%.2e", $0) } ?? "-"])
        }
        var lines = ["\(arch)", "  weights: \(weights); per layer on the first test image, against the trainer's evaluation pass:", ""]
        lines.append(table(rows, rightAligned: [1, 2]))
        lines.append("")
        let line = { (name: String, s: EngineSummary) in
            String(format: "%@: top-1 agreement %.2f%%, top-5 %.2f%% over %d test images (max logit |Δ| %.2e)",
                   name, s.top1Agreement * 100, s.top5Agreement * 100, self.images, s.maxLogitDifference)
        }
        lines.append(line("cpu", cpu))
        if let vulkan { lines.append(line("vulkan (\(vulkanDevice ?? ""))", vulkan)) }
        if let vulkanError { lines.append("vulkan: \(vulkanError)") }
        return lines.joined(separator: "\n")
    }
}
