import ArgumentParser
import Engine
import Foundation
import Numerics
import SearchSpace
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (run them from a release build).",
        subcommands: [TrainBench.self, ControllerBench.self]
    )

    struct TrainBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train",
            abstract: "Steady-state training speed on real Fashion-MNIST batches.",
            discussion: """
            Times whole SGD steps (copy the batch in, forward, loss, backward, optimiser) after a \
            warm-up, on batches of the training split prepared beforehand, as a data loader hands \
            them over. FLOPs count 3 passes × 2 FLOPs per MAC.
            """
        )

        @Option(help: "Architecture string or .arch file.")
        var arch: String

        @Option(help: "Batch size.")
        var batch = 128

        @Option(help: "Timed steps.")
        var steps = 200

        @Option(help: "Untimed warm-up steps.")
        var warmup = 20

        @Option(help: "OpenMP threads for oneDNN.")
        var threads = 2

        @Option(help: "Activation layout: auto, blocked or nhwc.")
        var layout: LayoutChoice = .auto

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            guard steps >= 1, warmup >= 0, (1...4096).contains(batch), (1...256).contains(threads) else {
                throw ValidationError("--steps ≥ 1, --warmup ≥ 0, --batch in 1...4096 and --threads in 1...256.")
            }
        }

        func run() throws {
            let architecture = try Architecture(argument: arch)
            let split = try DatasetSplit.load()
            let decoded = Network(architecture)
            let context = try ComputeContext(threads: threads)
            let initialisation = RandomStream(seed: 0, name: "weights")
            let network = try layout.layout.map {
                try TrainingNetwork(network: decoded, batch: batch, context: context, layout: $0, initialisation: initialisation)
            } ?? TrainingNetwork.fastest(network: decoded, batch: batch, context: context, initialisation: initialisation)
            let optimizer = NesterovSGD(parameters: network.parameters)
            let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)

            // Distinct real batches, prepared up front and cycled.
            let pipeline = InputPipeline(split.train, resolution: architecture.resolution)
            let batchCount = min(32, pipeline.count / batch)
            let area = architecture.resolution * architecture.resolution
            var batches: [[Float]] = []
            var labels: [ArraySlice<UInt8>] = []
            for b in 0..<batchCount {
                var buffer = [Float](repeating: 0, count: batch * area)
                let indices = Array((b * batch)..<((b + 1) * batch))
                buffer.withUnsafeMutableBufferPointer { pipeline.fill($0, indices: indices[...], augmentation: nil) }
                batches.append(buffer)
                labels.append(ArraySlice(indices.map { pipeline.labels[$0] }))
            }

            func step(_ i: Int) throws {
                network.setInput(batches[i % batchCount])
                try network.forward(training: true)
                network.withLogits { logits, gradient in
                    loss.evaluate(logits: logits, labels: labels[i % batchCount], classes: decoded.classes, gradient: gradient)
                }
                try network.backward()
                optimizer.step(learningRate: 0.01)
            }
            for i in 0..<warmup { try step(i) }
            let start = DispatchTime.now().uptimeNanoseconds
            for i in 0..<steps { try step(warmup + i) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

            let imagesPerSecond = Double(steps * batch) / seconds
            let report = TrainBenchReport(
                arch: architecture.description, batch: batch, threads: threads, layout: network.layout.rawValue, steps: steps,
                imagesPerSecond: imagesPerSecond.rounded(), msPerStep: (seconds / Double(steps) * 1e6).rounded() / 1e3,
                macsPerImage: decoded.macs, gflopsPerSecond: (imagesPerSecond * 6 * Double(decoded.macs) / 1e9 * 10).rounded() / 10,
                activationMegabytes: network.activationBytes / (1 << 20), isa: ComputeContext.isa,
                onednn: ComputeContext.oneDNNVersion)
            if json {
                try printJSON(report)
            } else {
                print(String(format: "%@\n  batch %d, %d threads, %@ layout: %.0f images/s, %.2f ms/step, %.1f GFLOP/s",
                             report.arch, batch, threads, report.layout, report.imagesPerSecond, report.msPerStep,
                             report.gflopsPerSecond))
            }
        }
    }
}

struct TrainBenchReport: Encodable {
    let arch: String
    let batch, threads: Int
    let layout: String
    let steps: Int
    let imagesPerSecond, msPerStep: Double
    let macsPerImage: Int
    let gflopsPerSecond: Double
    let activationMegabytes: Int
    let isa, onednn: String

    enum CodingKeys: String, CodingKey {
        case arch, batch, threads, layout, steps, isa, onednn
        case imagesPerSecond = "images_per_second", msPerStep = "ms_per_step", macsPerImage = "macs_per_image"
        case gflopsPerSecond = "gflops_per_second", activationMegabytes = "activation_megabytes"
    }
}
