import Core
public import Engine
import Foundation
import GSLNumerics
public import SearchSpace

/// Steady-state training speed (`nas bench train`): whole SGD steps (copy
/// the batch in, forward, loss, backward, optimiser) after a warm-up, on
/// distinct real batches of the training split prepared beforehand and
/// cycled, as a data loader hands them over.
public struct TrainingBenchmark: Encodable, Sendable {
    public let arch: String
    public let batch, threads: Int
    public let layout: String
    public let steps: Int
    public let imagesPerSecond, msPerStep: Double
    public let macsPerImage: Int
    /// 3 passes × 2 FLOPs per MAC.
    public let gflopsPerSecond: Double
    public let activationMegabytes: Int
    public let isa, onednn: String

    enum CodingKeys: String, CodingKey {
        case arch, batch, threads, layout, steps, isa, onednn
        case imagesPerSecond = "images_per_second", msPerStep = "ms_per_step", macsPerImage = "macs_per_image"
        case gflopsPerSecond = "gflops_per_second", activationMegabytes = "activation_megabytes"
    }

    /// Measures `network` at `batch` on `threads` threads; `layout` nil picks
    /// the fastest without reference kernels, as the search does.
    public init(network decoded: Network, split: DatasetSplit, batch: Int, steps: Int, warmup: Int, threads: Int,
                layout: ActivationLayout?) throws {
        try Limits.batch.check(batch, "batch")
        try Limits.steps.check(steps, "steps")
        try Limits.warmupSteps.check(warmup, "warm-up steps")
        let context = try ComputeContext(threads: threads)
        let initialisation = RandomStream(seed: 0, name: "weights")
        let network = try layout.map {
            try TrainingNetwork(network: decoded, batch: batch, context: context, layout: $0, initialisation: initialisation)
        } ?? TrainingNetwork.fastest(network: decoded, batch: batch, context: context, initialisation: initialisation)
        let optimizer = NesterovSGD(parameters: network.parameters)
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)

        let resolution = decoded.architecture.resolution
        let pipeline = try InputPipeline(split.train, resolution: resolution)
        let batchCount = min(32, pipeline.count / batch)
        var batches: [[Float]] = []
        var labels: [ArraySlice<UInt8>] = []
        for b in 0..<batchCount {
            var buffer = [Float](repeating: 0, count: batch * resolution * resolution)
            let indices = Array((b * batch)..<((b + 1) * batch))
            buffer.withUnsafeMutableBufferPointer { pipeline.fill($0, indices: indices[...], augmentation: nil) }
            batches.append(buffer)
            labels.append(ArraySlice(indices.map { pipeline.labels[$0] }))
        }

        func step(_ i: Int) throws {
            network.setInput(batches[i % batchCount])
            try network.forward(training: true)
            _ = network.withLogits { logits, gradient in
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
        arch = decoded.architecture.description
        self.batch = batch
        self.threads = threads
        self.layout = network.layout.rawValue
        self.steps = steps
        self.imagesPerSecond = imagesPerSecond.rounded()
        msPerStep = (seconds / Double(steps) * 1e6).rounded() / 1e3
        macsPerImage = decoded.macs
        gflopsPerSecond = (imagesPerSecond * 6 * Double(decoded.macs) / 1e9 * 10).rounded() / 10
        activationMegabytes = network.activationBytes / (1 << 20)
        isa = ComputeContext.isa
        onednn = ComputeContext.oneDNNVersion
    }
}
