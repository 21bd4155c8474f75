public import Core
import Foundation
import Training

/// How `nas compress` fine-tunes: the run's proxy recipe (batch, label
/// smoothing, momentum, weight decay) for `epochs` on `subset` images of the
/// training split, from `learningRate` (default: a tenth of the proxy's; for
/// pruning and xnor, the proxy's own) down a cosine, no warm-up.
public struct CompressOptions: Sendable {
    public var epochs = 2
    public var subset: Int?
    public var learningRate: Double?
    public var threads = 1
    /// Launches of the latency protocol per engine for a filter-pruned variant and the fp32 model.
    public var latencyLaunches = 3
    /// The Python that runs the verifiers and the folder of `verify_onnx.py`; nil skips verification.
    public var verifier: (python: String, scripts: String)?

    public init() {}

    public func validate() throws(NasError) {
        // 0 epochs: compressed as is, no fine-tuning (what each method costs before training recovers it).
        try Limit(0...1000).check(epochs, "--finetune-epochs")
        try Limits.trainingSubset.check(subset, "--subset")
        try Limits.learningRate.check(learningRate, "--learning-rate")
        try Limits.threads.check(threads, "--threads")
        try Limits.launches.check(latencyLaunches, "--launches")
    }
}

/// What `nas compress` writes per variant (`model.json`) and reports.
public struct CompressedModel: Codable, Sendable {
    /// One weight tensor as stored.
    public struct Tensor: Codable, Sendable {
        public var name, encoding: String
        public var count, bytes: Int
        /// With its codes Huffman-coded where that is smaller (`StoredWeight.huffmanBytes`); nil in variants made before.
        public var huffmanBytes: Int?
        public var sparsity: Double

        enum CodingKeys: String, CodingKey {
            case name, encoding, count, bytes, sparsity
            case huffmanBytes = "huffman_bytes"
        }
    }

    /// What decides a variant's files: one made with other settings is not this one.
    public struct Settings: Codable, Sendable, Equatable {
        public var method: String
        public var epochs: Int
        public var subset: Int?
        public var learningRate: Double
        public var verified: Bool
        /// How k-means placed the centroids ("exact"; nil for other methods
        /// and for variants made with seeded k-means++ before), so a variant
        /// clustered otherwise is not taken for one made now.
        public var clustering: String?

        var text: String {
            "\(method), \(epochs) epochs, \(subset.map { "\($0)" } ?? "all") images, learning rate \(learningRate)"
                + (clustering.map { ", \($0) k-means" } ?? "") + (verified ? ", verified" : "")
        }

        enum CodingKeys: String, CodingKey {
            case method, epochs, subset, verified, clustering
            case learningRate = "learning_rate"
        }
    }

    public var method: String
    public var arch, hash, run: String
    /// The variant's own architecture: the original's, or the smaller one filter pruning leaves (`_h`, head).
    public var compressedArch: String
    public var params, baselineParams, macs, baselineMacs: Int
    public var settings: Settings
    public var seed: UInt64
    public var steps: Int
    public var trainSeconds: Double
    /// The exported fp32 model's test accuracy, and this variant's (nasd's CPU engine on the decoded weights).
    public var baselineTestAccuracy, testAccuracy: Double
    public var valAccuracy: Double?
    /// Convolution and linear weights: fp32 bytes, and as this variant stores them.
    public var baselineWeightBytes, weightBytes: Int
    /// The weights with every tensor's codes Huffman-coded where that is smaller (Deep Compression's last stage).
    public var huffmanWeightBytes: Int?
    /// Weights plus the per-channel biases every variant keeps in float32.
    public var baselineModelBytes, modelBytes: Int
    public var tensors: [Tensor]
    /// `qat:B:act`: every quantised activation, as the ONNX file's QuantizeLinear holds it.
    public var activations: [QuantisedActivation]?
    /// `xnor`: every convolution reading its input binarised, as the ONNX file's Sign → Mul holds it.
    public var binaryInputs: [BinaryConvolutionInput]?
    /// File name → bytes.
    public var files: [String: Int]
    public var verification: [ExportedModel.Verification]
    /// Largest difference between a weight onnxruntime decodes from the file and nasd's decoding of it.
    public var maxWeightDifference: Double?
    /// Filter pruning only: this variant's latency and the fp32 model's, per
    /// engine, measured in the same command with interleaved launches. The
    /// other variants run their decoded weights at the fp32 model's speed.
    public var latency, baselineLatency: [ExportedModel.Latency]?
    public var latencyNote: String
    public var command: String

    /// One activation tensor quantised per tensor (zero point 0).
    public struct QuantisedActivation: Codable, Sendable {
        /// The IR layer whose output it is.
        public var layer: String
        public var bits: Int
        /// int8 codes when signed, uint8 when never negative.
        public var signed: Bool
        public var range: Float
        public var step: Float
    }

    /// A convolution whose input is sign(x) · scale.
    public struct BinaryConvolutionInput: Codable, Sendable {
        /// The convolution (IR layer name).
        public var layer: String
        public var scale: Float
    }

    public var accuracyDrop: Double { baselineTestAccuracy - testAccuracy }
    public var compressionRatio: Double { Double(baselineWeightBytes) / Double(max(weightBytes, 1)) }
    public var huffmanCompressionRatio: Double? { huffmanWeightBytes.map { Double(baselineWeightBytes) / Double(max($0, 1)) } }

    enum CodingKeys: String, CodingKey {
        case method, arch, hash, run, settings, params, macs, seed, steps, tensors, activations, files, verification, latency, command
        case trainSeconds = "train_seconds", baselineTestAccuracy = "baseline_test_accuracy", testAccuracy = "test_accuracy",
             valAccuracy = "val_accuracy", baselineWeightBytes = "baseline_weight_bytes", weightBytes = "weight_bytes",
             baselineModelBytes = "baseline_model_bytes", modelBytes = "model_bytes",
             maxWeightDifference = "max_weight_abs_diff", latencyNote = "latency_note", compressedArch = "compressed_arch",
             baselineParams = "baseline_params", baselineMacs = "baseline_macs", baselineLatency = "baseline_latency",
             binaryInputs = "binary_inputs", huffmanWeightBytes = "huffman_weight_bytes"
    }
}

/// What the compressor reports as it goes.
public enum CompressEvent: Sendable {
    case started(variant: Int, of: Int, method: String)
    case kept(variant: Int, of: Int, method: String)
    case training(variant: Int, of: Int, method: String, TrainingProgress)
    case verifying(variant: Int, of: Int, method: String)
    case measuring(variant: Int, of: Int, method: String, round: Int, rounds: Int)

    public var fraction: Double {
        switch self {
        case let .started(v, n, _), let .verifying(v, n, _), let .measuring(v, n, _, _, _): Double(v - 1) / Double(n)
        case let .kept(v, n, _): Double(v) / Double(n)
        case let .training(v, n, _, p): (Double(v - 1) + p.fraction) / Double(n)
        }
    }

    public var detail: String {
        switch self {
        case let .started(v, n, m): "\(v)/\(n) \(m)"
        case let .kept(v, n, m): "\(v)/\(n) \(m) already compressed"
        case let .verifying(v, n, m): "\(v)/\(n) \(m) test set and onnxruntime"
        case let .measuring(v, n, m, round, rounds): "\(v)/\(n) \(m) latency against fp32, round \(round)/\(rounds)"
        case let .training(v, n, m, p):
            String(format: "%d/%d %@ fine-tuning epoch %d/%d step %d/%d loss %.3f ETA %@", v, n, m, p.epoch, p.epochs, p.step,
                   p.stepsPerEpoch, p.loss, clock(p.remainingSeconds))
        }
    }

    public var isStage: Bool { if case .training = self { false } else { true } }
}
