import ArgumentParser
import Engine
import Latency
import SearchSpace
import Training
import VulkanEngine

struct LatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Measure inference latency on this machine's engines.",
        subcommands: [Measure.self]
    )

    enum EngineName: String, ExpressibleByArgument, CaseIterable {
        case cpu, vulkan
    }

    struct Measure: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Batch-1 latency of one architecture.",
            discussion: """
            Protocol: --warmup untimed runs, then --runs individually timed runs; the median, \
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
        var engine: EngineName = .cpu

        @Option(help: "Threads (default 1, as on a phone's big core).")
        var threads = 1

        @Option(help: "Timed runs.")
        var runs = 200

        @Option(help: "Untimed warm-up runs.")
        var warmup = 50

        @Option(help: "Weights from `nas train --save` (default: random; latency does not depend on values).")
        var weights: String?

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            guard (1...1_000_000).contains(runs), warmup >= 0, (1...256).contains(threads) else {
                throw ValidationError("--runs must be in 1...1000000, --warmup ≥ 0, --threads in 1...256.")
            }
        }

        func run() throws {
            let architecture: Architecture
            do { architecture = try Architecture(argument: arch) } catch { throw invalidInput(error) }
            var trained: NetworkWeights?
            if let weights {
                do { trained = try WeightsFile.read(from: weights).weights } catch { throw invalidInput(error) }
            }
            let measurement = MeasurementProtocol(warmup: warmup, runs: runs)
            let sample: LatencySample
            let device: DeviceFingerprint
            var gpuMilliseconds: Double?
            switch engine {
            case .cpu:
                sample = try CPULatency.measure(architecture, threads: threads, protocol: measurement, weights: trained)
                device = DeviceFingerprint.cpu(threads: threads)
            case .vulkan:
                let context: VulkanContext
                do { context = try VulkanContext() } catch { throw failure(error) }
                (sample, gpuMilliseconds) = try VulkanLatency.measure(architecture, context: context, protocol: measurement,
                                                                      weights: trained)
                device = DeviceFingerprint.vulkan(context)
            }
            var report = LatencyReport(arch: architecture.description, engine: engine.rawValue, device: device.device,
                                       fingerprint: device.id, threads: device.threads, sample: sample)
            report.gpuMedianMs = gpuMilliseconds.map { ($0 * 1e5).rounded() / 1e5 }
            if json {
                try printJSON(report)
            } else {
                print(architecture)
                print("  \(engine.rawValue) (\(device.device), \(device.detail), \(device.library)), \(device.threads) thread\(device.threads == 1 ? "" : "s")")
                print(String(format: "  median %.4f ms  p10 %.4f  p90 %.4f  MAD %.4f  (%d runs)", sample.medianMilliseconds,
                             sample.p10Milliseconds, sample.p90Milliseconds, sample.madMilliseconds, sample.runs))
                if let gpu = report.gpuMedianMs { print(String(format: "  GPU time (timestamps) median %.4f ms", gpu)) }
            }
        }
    }
}

struct LatencyReport: Encodable {
    let arch, engine, device, fingerprint: String
    let threads: Int
    let medianMs, p10Ms, p90Ms, madMs: Double
    let runs, attempts: Int
    var gpuMedianMs: Double?

    enum CodingKeys: String, CodingKey {
        case arch, engine, device, fingerprint, threads, runs, attempts
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
    }
}
