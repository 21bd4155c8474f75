import ArgumentParser
import Core
import Engine
import Foundation
import GSLNumerics
import SearchSpace
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (run them from a release build).",
        subcommands: [TrainBench.self, ControllerBench.self, SearchBench.self, ServeBench.self, ScaleBench.self]
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
            try validating {
                try Limits.steps.check(steps, "--steps")
                try Limits.warmupSteps.check(warmup, "--warmup")
                try Limits.batch.check(batch, "--batch")
                try Limits.threads.check(threads, "--threads")
            }
        }

        func run() throws {
            let report = try TrainingBenchmark(network: Network(try Architecture(argument: arch)), split: try DatasetSplit.load(),
                                               batch: batch, steps: steps, warmup: warmup, threads: threads, layout: layout.layout)
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
