import ArgumentParser
import Core
import Engine
import Latency
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

    @Option(help: "How the Vulkan engine stores tensors and weights: fp32, or fp16 (arithmetic stays fp32).")
    var precision: VulkanPrecision = .fp32

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try validating { try Limits.testImages.check(images, "--images") }
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
        let pipeline = try InputPipeline(test.subset(Array(0..<images)), resolution: architecture.resolution)

        var bar = ProgressBar()
        let report = try ParityReport(network: network, weights: weights, weightsLabel: self.weights ?? "random (seed \(seed))",
                                      images: images, vulkanPrecision: precision, image: { i, buffer in pipeline.fill(buffer, indices: [i], augmentation: nil) },
                                      progress: { done in
            bar.update(fraction: Double(done) / Double(images), detail: "\(done)/\(images) images", force: done == images)
        })
        bar.finish()
        if json { try printJSON(report) } else { print(report.text) }
    }
}

extension ParityReport {
    var text: String {
        var rows = [["layer", "max |Δ| cpu", "max |Δ| vulkan" + (vulkanPrecision == .fp16 ? " (fp16 storage)" : "")]]
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
