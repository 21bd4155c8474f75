import ArgumentParser
import Core
import Foundation
import Model
import Runs
import GSLNumerics
import Engine
import Latency
import SearchSpace
import Training
import VulkanEngine

struct LatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Measure inference latency on this machine's engines.",
        subcommands: [Measure.self, Table.self, Predict.self, Validate.self]
    )

    /// Engine, threads and table location, shared by the table commands.
    struct EngineOptions: ParsableArguments {
        @Option(help: "Engine: cpu or vulkan.")
        var engine: LatencyEngineName = .cpu

        @Option(help: "CPU threads (default 1, as on a phone's big core).")
        var threads = 1

        @Option(help: "The latency table (SQLite). Default: latency.sqlite in $NASD_RUNS or Runs/.")
        var db: String?

        @OptionGroup var timed: TimedRunsOption

        @Option(help: "Timed runs per operator unit.")
        var unitRuns = 100

        func validate() throws {
            try validating {
                try Limits.threads.check(threads, "--threads")
                try Limits.tableRuns.check(timed.runs(default: 200), "--timed-runs")
                try Limits.tableRuns.check(unitRuns, "--unit-runs")
            }
        }

        func predictor() throws -> LatencyPredictor {
            let path = db ?? RunsFolder(path: RunsFolder.defaultPath).latencyTable
            let store = try LatencyStore(path: path)
            let predictor = try LatencyPredictor(store: store, engine: try makeLatencyEngine(engine, threads: threads))
            let runs = timed.runs(default: 200)
            predictor.networkProtocol = MeasurementProtocol(warmup: max(5, runs / 6), runs: runs)
            predictor.unitProtocol = MeasurementProtocol(warmup: max(5, unitRuns / 5), runs: unitRuns)
            return predictor
        }
    }

    /// `--timed-runs N`, once spelt `--runs` (which everywhere else names the
    /// runs folder): the old spelling still works, and says so.
    struct TimedRunsOption: ParsableArguments {
        @Option(name: .customLong("timed-runs"), help: "Timed runs per whole network (default 200; a slow device can take fewer).")
        var timedRuns: Int?

        @Option(name: .customLong("runs"), help: ArgumentHelp("Old spelling of --timed-runs.", visibility: .hidden))
        var oldSpelling: Int?

        func validate() throws {
            if oldSpelling != nil {
                printError("warning: --runs here is the old spelling of --timed-runs (a count of timed runs; in the search commands --runs names the runs folder); it still works, but use --timed-runs")
            }
            if timedRuns != nil && oldSpelling != nil { throw ValidationError("give --timed-runs once (not also --runs).") }
        }

        func runs(default value: Int) -> Int { timedRuns ?? oldSpelling ?? value }
    }

    static func space(_ path: String) throws -> SearchSpace {
        try SearchSpace(contentsOf: path)
    }

    struct Table: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the latency table.", subcommands: [Build.self])

        struct Build: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Measure operator units and whole networks of sampled architectures, then fit the predictor.",
                discussion: """
                Draws --samples architectures from the space (stream "latency-fit" of --seed), measures \
                each distinct operator unit once (stem, each block repeat, head) and each whole network, \
                and fits predicted = c0·Σunits + c1·units + c2 by least squares. Every measurement is \
                stored as it completes: an interrupted build resumes where it stopped.
                """
            )

            @Option(help: "Search-space YAML file.")
            var space: String

            @OptionGroup var options: EngineOptions

            @Option(help: "Architectures to measure for the fit.")
            var samples = 40

            @Option(help: "Seed of the sampling stream.")
            var seed: UInt64 = 0

            @Flag(help: "Print JSON.")
            var json = false

            func validate() throws {
                try validating { try Limits.samples.check(samples, "--samples") }
            }

            func run() throws {
                let space = try LatencyCommand.space(self.space)
                let predictor = try options.predictor()
                let archs = space.sample(count: samples, from: RandomStream(seed: seed, name: "latency-fit"))
                var bar = ProgressBar()
                for (i, arch) in archs.enumerated() {
                    _ = try predictor.unitLatencies(arch)
                    _ = try predictor.measuredLatency(arch)
                    bar.update(fraction: Double(i + 1) / Double(archs.count), detail: "\(i + 1)/\(archs.count) networks",
                               force: i + 1 == archs.count)
                }
                bar.finish()
                let coefficients = try predictor.fit()
                let device = predictor.engine.device
                let report: [String: String] = [
                    "engine": device.engine, "device": device.device, "fingerprint": device.id,
                    "networks": "\(try predictor.store.networks(device: device).count)",
                    "operators": "\(try predictor.store.operatorCount(device: device))",
                    "coefficients": coefficients.map { String(format: "%.6g", $0) }.joined(separator: ","),
                    "db": predictor.store.path,
                ]
                if json { try printJSON(report) } else {
                    print("latency table for \(device.engine) on \(device.device): \(report["networks"]!) networks, \(report["operators"]!) operator units; fit \(report["coefficients"]!) (\(predictor.store.path))")
                }
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Predict an architecture's latency from the table (units not in it are measured and added).")

        @Option(help: "Architecture string or .arch file.")
        var arch: String

        @OptionGroup var options: EngineOptions

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let architecture = try Architecture(argument: arch)
            let predictor = try options.predictor()
            let predicted = try predictor.predict(architecture)
            let device = predictor.engine.device
            if json {
                try printJSON(PredictionReport(arch: architecture.description, engine: device.engine, device: device.device,
                                               fingerprint: device.id, predictedMs: (predicted * 1e5).rounded() / 1e5))
            } else {
                print(String(format: "%@\n  predicted %.4f ms on %@ (%@)", architecture.description, predicted, device.engine, device.device))
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the predictor on architectures not used for fitting.",
            discussion: """
            Draws --samples architectures (stream "latency-validate" of --seed) that are not among the \
            networks the fit used, measures and predicts each, and reports the share within ±10% and \
            ±5% of measured, the RMS and the largest error (in percent of measured).
            """
        )

        @Option(help: "Search-space YAML file.")
        var space: String

        @OptionGroup var options: EngineOptions

        @Option(help: "Held-out architectures.")
        var samples = 100

        @Option(help: "Seed of the sampling stream.")
        var seed: UInt64 = 0

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            try validating { try Limits.samples.check(samples, "--samples") }
        }

        func run() throws {
            let space = try LatencyCommand.space(self.space)
            let predictor = try options.predictor()
            let device = predictor.engine.device
            let fitted = Set(try predictor.store.networks(device: device).map(\.arch))
            guard !fitted.isEmpty else { throw LatencyStoreError.noCorrection(device: "\(device.engine) on \(device.device)") }
            let stream = RandomStream(seed: seed, name: "latency-validate")
            var held: [Architecture] = []
            var draws = 0
            while held.count < samples && draws < samples * 100 {
                let arch = space.sample(count: 1, from: stream)[0]
                draws += 1
                if !fitted.contains(arch.description) && !held.contains(arch) { held.append(arch) }
            }
            var measured: [Double] = [], predicted: [Double] = []
            var bar = ProgressBar()
            for (i, arch) in held.enumerated() {
                predicted.append(try predictor.predict(arch))
                let sample = try predictor.engine.measure(Network(arch), protocol: predictor.networkProtocol)
                measured.append(sample.medianMilliseconds)
                bar.update(fraction: Double(i + 1) / Double(held.count), detail: "\(i + 1)/\(held.count) networks",
                           force: i + 1 == held.count)
            }
            bar.finish()
            let report = ValidationReport(measured: measured, predicted: predicted)
            let round = { (v: Double) in (v * 1000).rounded() / 1000 }
            let output = ValidationOutput(engine: device.engine, device: device.device, fingerprint: device.id,
                                          samples: report.samples, within10pct: round(report.within10Percent),
                                          within5pct: round(report.within5Percent), rmsePct: round(report.rmsePercent),
                                          maxAbsErrPct: round(report.maxAbsoluteErrorPercent))
            if json { try printJSON(output) } else {
                print(String(format: "%@ on %@: %d held-out architectures, %.1f%% within ±10%%, %.1f%% within ±5%%, RMSE %.2f%%, max %.2f%%",
                             device.engine, device.device, report.samples, report.within10Percent * 100,
                             report.within5Percent * 100, report.rmsePercent, report.maxAbsoluteErrorPercent))
            }
        }
    }


    struct Measure: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Batch-1 latency of one architecture.",
            discussion: """
            Protocol: --warmup untimed runs, then --timed-runs individually timed runs; the median, \
            p10, p90 and median absolute deviation summarise them. A sample whose MAD exceeds 5% \
            of its median is taken again (up to 3 times) and the tightest kept. The CPU engine is \
            oneDNN in inference mode: BN folded into convolutions, activations and residual adds \
            fused as post-ops. The Vulkan engine runs the same plan as compute shaders on the first \
            Vulkan 1.1 device (a GPU if present, else Mesa's lavapipe); it reports wall time per \
            submission and, from timestamp queries, GPU time. Build in release for meaningful figures.
            """
        )

        @Option(help: "Architecture string or .arch file.")
        var arch: String

        @Option(help: "Engine: cpu or vulkan.")
        var engine: LatencyEngineName = .cpu

        @Option(help: "Threads (default 1, as on a phone's big core).")
        var threads = 1

        @OptionGroup var timed: TimedRunsOption

        @Option(help: "Untimed warm-up runs.")
        var warmup = 50

        @Option(help: "Weights from `nas train --save` (default: random; latency does not depend on values).")
        var weights: String?

        @Option(help: "Vulkan only: how tensors and weights are stored, fp32 or fp16 (arithmetic is fp32 in both).")
        var precision: VulkanPrecision = .fp32

        @Flag(help: "Vulkan only: time every dispatch (a timestamp after each) and list them, slowest first.")
        var perDispatch = false

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            if precision != .fp32 && engine != .vulkan {
                throw ValidationError("--precision sets how the Vulkan engine stores values; add --engine vulkan (the CPU engine computes in fp32).")
            }
            if perDispatch && engine != .vulkan {
                throw ValidationError("--per-dispatch times Vulkan dispatches; add --engine vulkan (the CPU engine's profile is scripts/profile-training.py's oneDNN verbose route).")
            }
            try validating {
                try Limits.timedRuns.check(timed.runs(default: 200), "--timed-runs")
                try Limits.warmupRuns.check(warmup, "--warmup")
                try Limits.threads.check(threads, "--threads")
            }
        }

        func run() throws {
            let architecture = try Architecture(argument: arch)
            var trained: NetworkWeights?
            if let weights {
                trained = try WeightsFile.read(from: weights).weights
            }
            let latencyEngine: any LatencyEngine = engine == .vulkan
                ? VulkanDeviceEngine(context: try VulkanContext(), precision: precision)
                : try makeLatencyEngine(engine, threads: threads)
            if perDispatch, let vulkan = latencyEngine as? VulkanDeviceEngine {
                let profile = try vulkan.profile(Network(architecture), warmup: warmup, runs: timed.runs(default: 200), weights: trained)
                let total = profile.reduce(0) { $0 + $1.medianMilliseconds }
                if json {
                    struct Row: Encodable { let dispatch: String; let median_ms: Double }
                    struct Profile: Encodable { let arch: String; let device: String; let dispatches: [Row]; let total_ms: Double }
                    try printJSON(Profile(arch: architecture.description, device: vulkan.device.device,
                                          dispatches: profile.map { Row(dispatch: $0.dispatch, median_ms: $0.medianMilliseconds) },
                                          total_ms: total))
                } else {
                    print("\(profile.count) dispatches on \(vulkan.device.device), \(String(format: "%.3f", total)) ms in all (medians; slowest first)")
                    for row in profile.sorted(by: { $0.medianMilliseconds > $1.medianMilliseconds }) {
                        print(String(format: "  %8.3f ms  %5.1f%%  ", row.medianMilliseconds, 100 * row.medianMilliseconds / max(total, 1e-9)) + row.dispatch)
                    }
                }
                return
            }
            let sample = try latencyEngine.measure(Network(architecture), protocol: MeasurementProtocol(warmup: warmup, runs: timed.runs(default: 200)),
                                                   weights: trained)
            let device = latencyEngine.device
            let report = LatencyReport(arch: architecture.description, engine: engine.rawValue, device: device.device,
                                       fingerprint: device.id, threads: device.threads, sample: sample)
            if json {
                try printJSON(report)
            } else {
                print(architecture)
                print("  \(engine.rawValue) (\(device.device), \(device.detail), \(device.library)), \(device.threads) thread\(device.threads == 1 ? "" : "s")")
                print(String(format: "  median %.4f ms  p10 %.4f  p90 %.4f  MAD %.4f  (%d runs)", sample.medianMilliseconds,
                             sample.p10Milliseconds, sample.p90Milliseconds, sample.madMilliseconds, sample.runs))
                if let gpu = report.gpuMedianMs { print(String(format: "  GPU time (timestamps) median %.4f ms", gpu)) }
                if let load = sample.load {
                    print(String(format: "  machine: load average %.2f, the measuring thread on its core %.0f%% of the time, other processes %@ of the machine%@",
                                 load.loadAverage, load.threadShare * 100, load.othersBusy.map { String(format: "%.0f%%", $0 * 100) } ?? "(too short to tell)",
                                 load.disturbed ? "; disturbed in every one of \(sample.attempts) attempts" : ""))
                }
            }
        }
    }
}

struct LatencyReport: Encodable {
    let arch, engine, device, fingerprint: String
    let threads: Int
    let medianMs, p10Ms, p90Ms, madMs: Double
    let runs, attempts: Int
    let gpuMedianMs: Double?
    let load: MachineLoad?

    enum CodingKeys: String, CodingKey {
        case arch, engine, device, fingerprint, threads, runs, attempts, load
        case gpuMedianMs = "gpu_median_ms"
        case medianMs = "median_ms", p10Ms = "p10_ms", p90Ms = "p90_ms", madMs = "mad_ms"
    }

    init(arch: String, engine: String, device: String, fingerprint: String, threads: Int, sample: LatencySample) {
        self.arch = arch
        self.engine = engine
        self.device = device
        self.fingerprint = fingerprint
        self.threads = threads
        let round = { (v: Double) in (v * 1e5).rounded() / 1e5 }
        medianMs = round(sample.medianMilliseconds)
        p10Ms = round(sample.p10Milliseconds)
        p90Ms = round(sample.p90Milliseconds)
        madMs = round(sample.madMilliseconds)
        runs = sample.runs
        attempts = sample.attempts
        gpuMedianMs = sample.gpuMedianMilliseconds.map(round)
        load = sample.load
    }
}

struct PredictionReport: Encodable {
    let arch, engine, device, fingerprint: String
    let predictedMs: Double

    enum CodingKeys: String, CodingKey {
        case arch, engine, device, fingerprint
        case predictedMs = "predicted_ms"
    }
}

struct ValidationOutput: Encodable {
    let engine, device, fingerprint: String
    let samples: Int
    let within10pct, within5pct, rmsePct, maxAbsErrPct: Double

    enum CodingKeys: String, CodingKey {
        case engine, device, fingerprint, samples
        case within10pct = "within_10pct", within5pct = "within_5pct", rmsePct = "rmse_pct", maxAbsErrPct = "max_abs_err_pct"
    }
}
