public import Core
public import Model
import Training
import Foundation

/// Which of a run's finished candidates to export.
public enum ExportSelection: Sendable, Equatable {
    /// The Pareto front of validation accuracy against CPU latency.
    case pareto
    /// The K best rewards.
    case top(Int)
    /// These architectures, by hash.
    case hashes([String])
}

/// The files a model is written as.
public enum ExportFormat: String, Sendable, CaseIterable, Codable {
    /// `model.onnx`.
    case onnx
    /// `model.param` + `model.bin`.
    case ncnn
}

/// How the chosen models are finished: the final training (the run's proxy
/// recipe on the whole training split, or `subset` of it, for `epochs`),
/// the latency protocol, and whether onnxruntime checks each model.
public struct ExportOptions: Sendable {
    public var selection: ExportSelection = .pareto
    public var formats: [ExportFormat] = ExportFormat.allCases
    /// Weight variants besides fp32 (always written): fp16, int8 (ONNX only).
    public var variants: [WeightPrecision] = []
    public var epochs = 5
    /// Training images (the first of the 50k split); nil for all.
    public var subset: Int?
    public var threads = 1
    /// Independent launches of the latency protocol per model and engine,
    /// interleaved across models; their median is reported.
    public var latencyLaunches = 3
    /// The Python that runs the verifiers, and the folder holding
    /// `verify_onnx.py` and `verify_ncnn.py`; nil skips verification.
    public var verifier: (python: String, scripts: String)?

    public init() {}

    public func validate() throws(NasError) {
        try Limits.epochs.check(epochs, "--epochs")
        try Limits.trainingSubset.check(subset, "--subset")
        try Limits.threads.check(threads, "--threads")
        try Limits.launches.check(latencyLaunches, "--launches")
        if case let .top(k) = selection { try Limits.samples.check(k, "--top") }
        guard !formats.isEmpty else { throw .invalidInput("--formats names no format; give onnx, ncnn or onnx,ncnn") }
    }
}

/// What `nas export` writes per model (`model.json`) and reports.
public struct ExportedModel: Codable, Sendable {
    public struct Latency: Codable, Sendable {
        public var engine, device, fingerprint: String
        /// Median of the launches' medians.
        public var medianMs: Double?
        public var launchesMs: [Double]
        public var protocolRuns, protocolWarmup: Int
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case engine, device, fingerprint, error
            case medianMs = "median_ms", launchesMs = "launches_ms", protocolRuns = "protocol_runs",
                 protocolWarmup = "protocol_warmup"
        }
    }

    /// One runtime's run of one file against the CPU engine.
    public struct Verification: Codable, Sendable {
        /// "onnxruntime", "ncnn-cpu" or "ncnn-vulkan".
        public var runtime: String
        public var version: String
        public var device: String?
        public var images: Int
        public var maxAbsDiff: Double
        public var top1Agreement: Double
        /// Why this runtime did not run (no Vulkan device); nil when it did.
        public var skipped: String? = nil
        /// The runtime's own latency for this file: median of `latencyRuns`
        /// one-image runs on one thread, after a warm-up.
        public var latencyMs: Double? = nil
        public var latencyRuns: Int? = nil
        /// A model with quantised activations is checked as written (graph
        /// optimisations off); these compare the optimised session, where
        /// onnxruntime runs integer kernels, and `latencyMs` is its.
        public var optimisedMaxAbsDiff: Double? = nil
        public var optimisedTop1Agreement: Double? = nil
        /// The fp32 export's latency in the same process, blocks alternated with this file's.
        public var baselineLatencyMs: Double? = nil

        enum CodingKeys: String, CodingKey {
            case runtime, version, device, images, skipped
            case latencyMs = "latency_ms", latencyRuns = "latency_runs"
            case optimisedMaxAbsDiff = "optimised_max_abs_diff", optimisedTop1Agreement = "optimised_top1_agreement"
            case baselineLatencyMs = "baseline_latency_ms"
            case maxAbsDiff = "max_abs_diff", top1Agreement = "top1_agreement"
        }
    }

    /// A weight variant: its own files, test accuracy (nasd's CPU engine on
    /// the weights the files store) and verification.
    public struct Variant: Codable, Sendable {
        public var precision: WeightPrecision
        public var testAccuracy: Double
        public var files: [String: Int]
        public var verification: [Verification]

        enum CodingKeys: String, CodingKey {
            case precision, files, verification
            case testAccuracy = "test_accuracy"
        }
    }

    /// What folding batch norm changed (`fold.txt` has it per unit).
    public struct Fold: Codable, Sendable {
        public var images: Int
        public var top1Agreement, top5Agreement, maxLogitDifference, maxUnitDifference: Double

        enum CodingKeys: String, CodingKey {
            case images
            case top1Agreement = "top1_agreement", top5Agreement = "top5_agreement",
                 maxLogitDifference = "max_logit_abs_diff", maxUnitDifference = "max_unit_abs_diff"
        }
    }

    /// The export settings a model's files follow.
    public struct Settings: Codable, Sendable, Equatable {
        public var run: String
        public var epochs: Int
        public var subset: Int?
        public var formats: [ExportFormat]
        public var variants: [WeightPrecision]
        public var verified: Bool

        var text: String {
            "run \(run), \(epochs) epochs, \(subset.map { "\($0)" } ?? "all") images, " + formats.map(\.rawValue).joined(separator: "+")
                + (variants.isEmpty ? "" : ", " + variants.map(\.rawValue).joined(separator: "+")) + (verified ? ", verified" : "")
        }
    }

    public var arch, hash: String
    public var settings: Settings
    public var candidate: Int
    public var params, macs: Int
    public var searchValAccuracy: Double?
    public var valAccuracy, testAccuracy: Double
    public var epochs, trainingImages: Int
    public var seed: UInt64
    public var trainSeconds: Double
    /// File name → bytes.
    public var files: [String: Int]
    public var latency: [Latency]
    public var verification: [Verification]
    /// The folded model against the trained network on the test set.
    public var fold: Fold?
    /// How the final training's weights started.
    public var initialisation: WeightInitialisation?
    /// The fp16 and int8 variants asked for.
    public var variants: [Variant] = []
    public var input: [String: String]
    public var command: String

    enum CodingKeys: String, CodingKey {
        case arch, hash, settings, candidate, params, macs, epochs, seed, files, latency, verification, variants, input, command,
             fold, initialisation
        case searchValAccuracy = "search_val_accuracy", valAccuracy = "val_accuracy", testAccuracy = "test_accuracy"
        case trainingImages = "training_images", trainSeconds = "train_seconds"
    }
}

/// What the exporter reports as it goes.
public enum ExportEvent: Sendable {
    case started(model: Int, of: Int, hash: String)
    case kept(model: Int, of: Int, hash: String)
    case training(model: Int, of: Int, TrainingProgress)
    case measuring(round: Int, of: Int)

    /// How far the whole export is, from 0 to 1.
    public var fraction: Double {
        switch self {
        case let .started(model, total, _): Double(model - 1) / Double(total)
        case let .kept(model, total, _): Double(model) / Double(total)
        case let .training(model, total, p): (Double(model - 1) + p.fraction) / Double(total)
        case .measuring: 1
        }
    }

    /// What it is doing, in words: `nas export`'s progress line and the daemon's job view say the same.
    public var detail: String {
        switch self {
        case let .started(model, total, hash): "model \(model)/\(total) \(hash)"
        case let .kept(model, total, hash): "model \(model)/\(total) \(hash) already exported"
        case let .training(model, total, p):
            String(format: "model %d/%d epoch %d/%d step %d/%d loss %.3f ETA %@", model, total, p.epoch, p.epochs, p.step,
                   p.stepsPerEpoch, p.loss, clock(p.remainingSeconds))
        case let .measuring(round, total): "latency, round \(round)/\(total)"
        }
    }

    /// Whether the progress line shows it at once (a new stage) or at its own pace (a training step).
    public var isStage: Bool { if case .training = self { false } else { true } }
}
