import ArgumentParser
import Core
import Engine
import Foundation
import Search
import SearchSpace
import Training

/// Options every command that trains shares.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Search space whose proxy section gives the defaults for the options below.")
    var space = "SearchSpaces/mnasnet-fm.yaml"

    @Option(help: "Which of the space's proxy tasks gives the defaults: default (`proxy`) or search (`search_proxy`).")
    var proxy: SearchConfiguration.ProxyChoice = .default

    @Option(help: "Epochs (default: the space's proxy).")
    var epochs: Int?

    @Option(help: "Training images from the 50k training split, 1...50000 (default: the space's proxy).")
    var subset: Int?

    @Option(help: "Validation images ranking the network, the first of the fixed 10k, 1...10000 (default: the space's proxy, else all).")
    var validationSubset: Int?

    @Option(help: "Batch size (default: the space's proxy).")
    var batch: Int?

    @Option(name: .customLong("lr"), help: "Peak learning rate (default: the space's proxy).")
    var learningRate: Double?

    @Option(help: "Linear warm-up, in epochs (default: the space's proxy).")
    var warmupEpochs: Double?

    @Option(help: "Label smoothing (default: the space's proxy).")
    var labelSmoothing: Double?

    @Option(help: "Seed of the weight, data-order and augmentation streams.")
    var seed: UInt64 = 0

    @Option(help: "OpenMP threads for oneDNN.")
    var threads: Int = min(ProcessInfo.processInfo.activeProcessorCount, Limits.threads.range.upperBound)

    @Option(help: "Activation layout between layers: auto (blocked unless a kernel would then be a reference one), blocked or nhwc.")
    var layout: LayoutChoice = .auto

    @Option(name: .customLong("init"), help: "Weight initialisation: fan-in-uniform (PyTorch's default, the recommended one) or he-normal (nasd's first recipe).")
    var initialisation: WeightInitialisation = .recommended

    /// The same limits as a space file's proxy section (`Limits`).
    func validate() throws {
        try validating {
            try Limits.epochs.check(epochs, "--epochs")
            try Limits.trainingSubset.check(subset, "--subset")
            try Limits.validationSubset.check(validationSubset, "--validation-subset")
            try Limits.batch.check(batch, "--batch")
            try Limits.learningRate.check(learningRate, "--lr")
            try Limits.warmupEpochs.check(warmupEpochs, "--warmup-epochs")
            try Limits.labelSmoothing.check(labelSmoothing, "--label-smoothing")
            try Limits.threads.check(threads, "--threads")
        }
    }

    /// The proxy task of `space`, with the options given on top.
    func configuration() throws -> TrainingConfiguration {
        let parsed = try SearchSpace(contentsOf: space)
        let proxy = try self.proxy.task(in: parsed, path: space)
        var configuration = TrainingConfiguration(proxy: proxy, seed: seed)
        if let epochs { configuration.epochs = epochs }
        if let subset { configuration.subset = subset }
        if let validationSubset { configuration.validationSubset = validationSubset }
        if let batch { configuration.batch = batch }
        if let learningRate { configuration.learningRate = learningRate }
        if let warmupEpochs { configuration.warmupEpochs = warmupEpochs }
        if let labelSmoothing { configuration.labelSmoothing = labelSmoothing }
        configuration.layout = layout.layout
        configuration.initialisation = initialisation
        guard (configuration.subset ?? 50_000) >= configuration.batch else {
            throw NasError.invalidInput("the subset (\(configuration.subset ?? 50_000) images) is smaller than one batch (\(configuration.batch)); raise --subset or lower --batch")
        }
        return configuration
    }
}

/// `--layout`: a fixed activation layout, or the fastest one without reference kernels.
enum LayoutChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, blocked, nhwc

    var layout: ActivationLayout? { self == .auto ? nil : ActivationLayout(rawValue: rawValue) }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an architecture on the Fashion-MNIST proxy task (oneDNN).",
        discussion: """
        Recipe: SGD with Nesterov momentum 0.9, weight decay 4e-5 on conv and linear weights, \
        linear warm-up then cosine decay per step, optional label smoothing, PyTorch's default \
        weight initialisation (--init), random 2-pixel crops and horizontal flips. The 60k training images are split once into \
        50k train and 10k validation (a fixed seed); the 10k test set is read only with --test.
        """
    )

    @Option(help: "Architecture string or .arch file.")
    var arch: String

    @OptionGroup var training: TrainingOptions

    @Flag(help: "Also report accuracy on the 10k test set (never used to rank candidates).")
    var test = false

    @Option(help: "Write the trained weights and BN statistics here (format in README).")
    var save: String?

    @Flag(help: "Print the result as JSON on standard output.")
    var json = false

    func run() throws {
        let architecture = try Architecture(argument: arch)
        let configuration = try training.configuration()
        let split = try DatasetSplit.load()
        let context = try ComputeContext(threads: training.threads)
        let trainer = try Trainer(architecture: architecture, split: split, configuration: configuration, context: context)

        var bar = ProgressBar()
        var result = try trainer.train { p in
            bar.update(fraction: p.fraction, detail: String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %@",
                                                            p.epoch, p.epochs, p.step, p.stepsPerEpoch, p.loss,
                                                            p.imagesPerSecond, clock(p.remainingSeconds)))
        }
        bar.finish()
        if let step = result.divergedAtStep {
            FileHandle.standardError.write(Data("diverged: the loss became NaN or infinite at step \(step); lower --lr\n".utf8))
        } else if test {
            result.testAccuracy = try trainer.evaluate(try FashionMNIST.test()).accuracy
        }
        if let save, result.divergedAtStep == nil {
            try WeightsFile(network: trainer.network, architecture: architecture).write(to: save)
        }
        let report = TrainReport(architecture: architecture, configuration: configuration, threads: training.threads,
                                 result: result)
        if json {
            try printJSON(report)
        } else {
            print(report.text)
        }
    }
}

struct TrainReport: Encodable {
    let arch, hash, layout: String
    let valAccuracy, valLoss, testAccuracy: Double?
    let epochs, batch, subset, threads, splitSeed: Int
    let seed: UInt64
    let trainSeconds, imagesPerSecond: Double
    let diverged: Bool

    enum CodingKeys: String, CodingKey {
        case arch, hash, layout, epochs, batch, subset, threads, seed, diverged
        case valAccuracy = "val_accuracy", valLoss = "val_loss", testAccuracy = "test_accuracy"
        case splitSeed = "split_seed", trainSeconds = "train_seconds", imagesPerSecond = "images_per_second"
    }

    init(architecture: Architecture, configuration: TrainingConfiguration, threads: Int, result: TrainingResult) {
        arch = architecture.description
        hash = architecture.hash
        layout = result.layout.rawValue
        valAccuracy = result.validationAccuracy
        valLoss = result.validationLoss
        testAccuracy = result.testAccuracy
        epochs = result.epochs
        batch = configuration.batch
        subset = configuration.subset ?? 50_000
        self.threads = threads
        splitSeed = Int(DatasetSplit.seed)
        seed = configuration.seed
        trainSeconds = (result.trainSeconds * 100).rounded() / 100
        imagesPerSecond = result.imagesPerSecond.rounded()
        diverged = result.divergedAtStep != nil
    }

    var text: String {
        var lines = ["\(arch)  (\(hash))"]
        if diverged {
            lines.append("  diverged")
        } else {
            lines.append(String(format: "  validation accuracy %.2f%%  loss %.4f", (valAccuracy ?? 0) * 100, valLoss ?? 0))
            if let testAccuracy { lines.append(String(format: "  test accuracy %.2f%%", testAccuracy * 100)) }
        }
        lines.append(String(format: "  %d epochs × %d images, batch %d, %d threads: %.1f s, %.0f images/s",
                            epochs, subset, batch, threads, trainSeconds, imagesPerSecond))
        return lines.joined(separator: "\n")
    }
}
