import ArgumentParser
import Engine
import Latency
import SearchSpace
import Training

struct LatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Measure inference latency on this machine's engines.",
        subcommands: [Measure.self]
    )

    enum EngineName: String, ExpressibleByArgument, CaseIterable {
        case cpu
    }

    struct Measure: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Batch-1 latency of one architecture.",
            discussion: """
            Protocol: --warmup untimed runs, then --runs individually timed runs; the median, \
            p10, p90 and median absolute deviation summarise them. A sample whose MAD exceeds 5% \
            of its median is taken again (up to 3 times) and the tightest kept. The CPU engine is \
            oneDNN in inference mode: BN folded into convolutions, activations and residual adds \
            fused as post-ops. Build in release for meaningful figures.
            """
        )

        @Option(help: "Architecture string or .arch file.")
        var arch: String

        @Option(help: "Engine: cpu.")
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
            let sample = try CPULatency.measure(architecture, threads: threads,
                                                protocol: MeasurementProtocol(warmup: warmup, runs: runs),
                                                weights: trained)
            let device = DeviceFingerprint.cpu(threads: threads)
            let report = LatencyReport(arch: architecture.description, engine: engine.rawValue, device: device.device,
                                       fingerprint: device.id, threads: threads, sample: sample)
            if json {
                try printJSON(report)
            } else {
                print(architecture)
                print("  \(engine.rawValue) (\(device.device), \(device.detail), \(device.library)), \(threads) thread\(threads == 1 ? "" : "s")")
                print(String(format: "  median %.4f ms  p10 %.4f  p90 %.4f  MAD %.4f  (%d runs)", sample.medianMilliseconds,
                             sample.p10Milliseconds, sample.p90Milliseconds, sample.madMilliseconds, sample.runs))
            }
        }
    }
}

struct LatencyReport: Encodable {
    let arch, engine, device, fingerprint: String
    let threads: Int
    let medianMs, p10Ms, p90Ms, madMs: Double
    let runs, attempts: Int

    enum CodingKeys: String, CodingKey {
        case arch, engine, device, fingerprint, threads, runs, attempts
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
