public import Core
public import Engine
import Foundation
import GSLNumerics
public import SearchSpace

/// How one candidate is trained: the proxy task plus the fixed recipe.
public struct TrainingConfiguration: Sendable {
    public var epochs: Int
    /// Training images taken from the 50k split (its first `subset`); nil for all.
    public var subset: Int?
    public var batch: Int
    public var learningRate: Double
    public var warmupEpochs: Double
    public var labelSmoothing: Double
    /// Validation images used (the first of the fixed 10k); nil for all.
    public var validationSubset: Int?
    public var momentum: Double = 0.9
    public var weightDecay: Double = 4e-5
    public var seed: UInt64
    /// Activation layout; nil picks the fastest without reference kernels.
    public var layout: ActivationLayout?
    /// How the weights start; a stored run keeps the scheme it was created with.
    public var initialisation: WeightInitialisation = .recommended

    public init(epochs: Int, subset: Int?, batch: Int, learningRate: Double, warmupEpochs: Double,
                labelSmoothing: Double, seed: UInt64) {
        self.epochs = epochs
        self.subset = subset
        self.batch = batch
        self.learningRate = learningRate
        self.warmupEpochs = warmupEpochs
        self.labelSmoothing = labelSmoothing
        self.seed = seed
    }

    /// The proxy task a search space declares.
    public init(proxy: SearchSpace.ProxyTask, seed: UInt64) {
        self.init(epochs: proxy.epochs, subset: proxy.subset, batch: proxy.batch, learningRate: proxy.learningRate,
                  warmupEpochs: proxy.warmupEpochs, labelSmoothing: proxy.labelSmoothing, seed: seed)
        validationSubset = proxy.validationSubset
    }
}

/// The outcome of training one candidate.
public struct TrainingResult: Sendable {
    public var validationAccuracy: Double?
    public var validationLoss: Double?
    public var testAccuracy: Double?
    public var epochs: Int
    public var trainSeconds: Double
    public var imagesPerSecond: Double
    /// Set when the loss became NaN or infinite: training stopped there.
    public var divergedAtStep: Int?
    /// The activation layout the network trained in.
    public var layout: ActivationLayout = .blocked
}

/// Trains an architecture on the Fashion-MNIST proxy task with oneDNN.
public final class Trainer {
    public let architecture: Architecture
    public let configuration: TrainingConfiguration
    public let network: TrainingNetwork
    private let trainPipeline: InputPipeline
    private let validationPipeline: InputPipeline
    private let loss: SoftmaxCrossEntropy
    private let dataOrder: RandomStream
    private let augmentation: RandomStream

    public convenience init(architecture: Architecture, split: DatasetSplit, configuration: TrainingConfiguration,
                            context: ComputeContext) throws {
        try self.init(network: Network(architecture), split: split, configuration: configuration, context: context)
    }

    /// Trains an architecture already decoded (the search decodes each candidate once).
    public init(network decoded: Network, split: DatasetSplit, configuration: TrainingConfiguration,
                context: ComputeContext) throws {
        // A configuration from a daemon's request or a stored run meets the same limits as the CLI's.
        try Limits.epochs.check(configuration.epochs, "epochs")
        try Limits.batch.check(configuration.batch, "batch")
        let architecture = decoded.architecture
        self.architecture = architecture
        self.configuration = configuration
        let initialisation = RandomStream(seed: configuration.seed, name: "weights")
        if let layout = configuration.layout {
            network = try TrainingNetwork(network: decoded, batch: configuration.batch, context: context, layout: layout,
                                          initialisation: initialisation, scheme: configuration.initialisation)
        } else {
            network = try TrainingNetwork.fastest(network: decoded, batch: configuration.batch, context: context,
                                                  initialisation: initialisation, scheme: configuration.initialisation)
        }
        let train = configuration.subset.map { split.train.subset(Array(0..<min($0, split.train.count))) } ?? split.train
        trainPipeline = try InputPipeline(train, resolution: architecture.resolution)
        let validation = configuration.validationSubset.map {
            split.validation.subset(Array(0..<min($0, split.validation.count)))
        } ?? split.validation
        validationPipeline = try InputPipeline(validation, resolution: architecture.resolution)
        loss = SoftmaxCrossEntropy(labelSmoothing: Float(configuration.labelSmoothing))
        dataOrder = RandomStream(seed: configuration.seed, name: "data-order")
        augmentation = RandomStream(seed: configuration.seed, name: "augmentation")
    }

    public var stepsPerEpoch: Int { trainPipeline.count / configuration.batch }

    /// Trains for the configured epochs (dropping each epoch's last partial
    /// batch), then evaluates on the validation split.
    /// `progress` is called after every step; what it throws (a stop request) ends training there.
    public func train(progress: (TrainingProgress) throws -> Void = { _ in }) throws -> TrainingResult {
        let batch = configuration.batch
        let steps = stepsPerEpoch
        guard steps > 0 else { throw TrainingError.subsetSmallerThanBatch(images: trainPipeline.count, batch: batch) }
        let schedule = LearningRateSchedule(peak: configuration.learningRate,
                                            warmupSteps: Int((configuration.warmupEpochs * Double(steps)).rounded()),
                                            totalSteps: configuration.epochs * steps)
        let optimizer = NesterovSGD(parameters: network.parameters, momentum: Float(configuration.momentum),
                                    weightDecay: Float(configuration.weightDecay))
        let classes = network.layers.last!.outputShape.channels
        let start = Date()
        var step = 0
        for epoch in 1...configuration.epochs {
            let order = dataOrder.permutation(trainPipeline.count)
            for s in 0..<steps {
                let indices = order[(s * batch)..<((s + 1) * batch)]
                network.withInput { trainPipeline.fill($0, indices: indices, augmentation: augmentation) }
                try network.forward(training: true)
                let labels = ArraySlice(indices.map { trainPipeline.labels[$0] })
                let (value, _) = network.withLogits { logits, gradient in
                    loss.evaluate(logits: logits, labels: labels, classes: classes, gradient: gradient)
                }
                guard value.isFinite else {
                    return TrainingResult(epochs: epoch, trainSeconds: Date().timeIntervalSince(start),
                                          imagesPerSecond: 0, divergedAtStep: step, layout: network.layout)
                }
                try network.backward()
                optimizer.step(learningRate: Float(schedule.rate(atStep: step)))
                step += 1
                let elapsed = Date().timeIntervalSince(start)
                try progress(TrainingProgress(epoch: epoch, epochs: configuration.epochs, step: s + 1, stepsPerEpoch: steps,
                                          loss: value, imagesPerSecond: Double(step * batch) / max(elapsed, 1e-9),
                                          elapsedSeconds: elapsed))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let (accuracy, validationLoss) = try evaluate(validationPipeline)
        return TrainingResult(validationAccuracy: accuracy, validationLoss: validationLoss, epochs: configuration.epochs,
                              trainSeconds: seconds, imagesPerSecond: Double(step * batch) / seconds, layout: network.layout)
    }

    /// Top-1 accuracy and mean loss (without label smoothing) in evaluation mode.
    public func evaluate(_ pipeline: InputPipeline) throws(DNNLError) -> (accuracy: Double, loss: Double) {
        let batch = configuration.batch
        let classes = network.layers.last!.outputShape.channels
        let plain = SoftmaxCrossEntropy()
        var correct = 0
        var total = 0.0
        var start = 0
        while start < pipeline.count {
            let end = min(start + batch, pipeline.count)
            // A partial last batch is padded by repeating its first image; only real rows count.
            let indices = Array(start..<end) + Array(repeating: start, count: batch - (end - start))
            network.withInput { pipeline.fill($0, indices: indices[...], augmentation: nil) }
            try network.forward(training: false)
            let rows = end - start
            let (value, hits) = network.withLogits { logits, _ in
                plain.evaluate(logits: UnsafeBufferPointer(rebasing: logits[0..<(rows * classes)]),
                               labels: pipeline.labels[start..<end], classes: classes)
            }
            correct += hits
            total += value * Double(rows)
            start = end
        }
        return (Double(correct) / Double(pipeline.count), total / Double(pipeline.count))
    }

    /// Accuracy on other images (the test set, when asked for).
    public func evaluate(_ images: LabelledImages) throws -> (accuracy: Double, loss: Double) {
        try evaluate(try InputPipeline(images, resolution: architecture.resolution))
    }
}

public enum TrainingError: ClassifiedError {
    public var kind: ErrorKind {
        if case .inputTooLarge = self { return .environment }
        return .invalidInput
    }

    case subsetSmallerThanBatch(images: Int, batch: Int)
    case inputTooLarge(images: Int, resolution: Int, gigabytes: Double)

    public var description: String {
        switch self {
        case let .subsetSmallerThanBatch(images, batch):
            return "the training subset (\(images) images) is smaller than one batch (\(batch)); raise the subset or lower the batch"
        case let .inputTooLarge(images, resolution, gigabytes):
            return String(format: "%d images at %d×%d need %.1f GB resized, more than this machine's memory allows; lower the resolution or the subset", images, resolution, resolution, gigabytes)
        }
    }
}
