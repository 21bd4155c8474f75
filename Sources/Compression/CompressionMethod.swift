public import Core

/// What `nas compress --method` does to a trained model's convolution and
/// linear weights. Each is applied during a fine-tuning whose forward pass
/// sees the compressed weights and whose gradients reach full-precision
/// master values (the straight-through estimator), so training recovers
/// what the compression cost.
public enum CompressionMethod: Sendable, Hashable, CustomStringConvertible {
    /// Per-layer weight sharing, 2^bits centroids placed by exact 1-D k-means
    /// (`KMeans(optimal:k:)`) then fine-tuned, each with the sum of its weights' gradients (Han et
    /// al. 2016, "Deep Compression"; Core ML's `kmeans_lut`). The batch norm
    /// after a layer trains as usual and folds in as a float32 scale per
    /// output channel; `folded` clusters the folded weights instead, batch
    /// norms frozen while fine-tuning, and stores no scale (`WeightProjection`).
    case kmeans(bits: Int, folded: Bool = false)
    /// The same with a uniform codebook between the layer's extremes at the
    /// start (Core ML's `linear_lut`), fine-tuned the same way.
    case linear(bits: Int, folded: Bool = false)
    /// Gradual magnitude pruning of the model to `sparsity` with Zhu &
    /// Gupta's (2017) cubic schedule, shared out by `SparsityAllocation`.
    case prune(sparsity: Double)
    /// Quantisation-aware fine-tuning: weights fake-quantised symmetrically
    /// per output channel to `bits` bits in the forward pass; with
    /// `activations`, every tensor between steps too (per tensor, its range
    /// fixed by ReLU6 or a sigmoid or observed while training), as an
    /// integer deployment holds them.
    case qat(bits: Int, activations: Bool = false)
    /// Structured pruning of the `fraction` of prunable filters with the
    /// smallest L1 norm (Li et al. 2017): a smaller dense network, fine-tuned.
    case filters(fraction: Double)
    /// Binary weights sign(W)·α per output channel, α = mean |W| (XNOR-Net's
    /// binary-weight networks); the first convolution and the classifier
    /// stay at full precision, as XNOR-Net keeps them.
    case binary
    /// XNOR-Net: binary weights as `binary`, and every convolution but the
    /// first reading its input binarised too (`BinaryInput`), so a device
    /// computes those convolutions with XNOR and bit counts.
    case xnor

    public static let codebookBits: Set<Int> = [1, 2, 4, 8]
    public static let qatBits: Set<Int> = [4, 6, 8]
    public static let sparsityLimit = Limit(0.0...1.0, excludingLowerBound: true, excludingUpperBound: true)

    /// The standard set `nas compress --sweep` runs.
    public static let sweep: [CompressionMethod] = [
        .kmeans(bits: 8), .kmeans(bits: 4), .kmeans(bits: 4, folded: true), .kmeans(bits: 2), .linear(bits: 4), .prune(sparsity: 0.5), .prune(sparsity: 0.8),
        .qat(bits: 8), .qat(bits: 6), .qat(bits: 4), .qat(bits: 8, activations: true), .binary, .xnor, .filters(fraction: 0.25),
    ]

    /// Reads `kmeans:4`, `kmeans:4:folded`, `linear:2`, `prune:0.5`, `qat:6`, `qat:8:act`, `binary`.
    public init(parsing text: String) throws(NasError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let name = parts[0].lowercased()
        // qat may take a third part, `act`; kmeans and linear `folded`.
        let third = parts.count == 3 ? parts[2].lowercased() : nil
        let activations = name == "qat" && third == "act"
        let folded = (name == "kmeans" || name == "linear") && third == "folded"
        func argument(_ what: String) throws(NasError) -> String {
            guard parts.count == (activations || folded ? 3 : 2), !parts[1].isEmpty else {
                throw .invalidInput("--method '\(text)': \(name) takes one \(what) after a colon, as in \(Self.example(name))")
            }
            return parts[1]
        }
        func bits(_ allowed: Set<Int>) throws(NasError) -> Int {
            let given = try argument("bit width")
            guard let value = Int(given), allowed.contains(value) else {
                throw .invalidInput("--method '\(text)': \(name) takes \(allowed.sorted().map(String.init).joined(separator: ", ")) bits, got '\(given)'")
            }
            return value
        }
        // A fraction strictly between 0 and 1; `meaning` says what it is a fraction of.
        func fraction(_ what: String, meaning: String) throws(NasError) -> Double {
            let given = try argument(what)
            guard let value = Double(given), Self.sparsityLimit.contains(value) else {
                throw .invalidInput("--method '\(text)': \(name) takes a \(what) in \(Self.sparsityLimit.text) (\(meaning)), got '\(given)'")
            }
            return value
        }
        switch name {
        case "kmeans": self = .kmeans(bits: try bits(Self.codebookBits), folded: folded)
        case "linear": self = .linear(bits: try bits(Self.codebookBits), folded: folded)
        case "qat":
            self = .qat(bits: try bits(Self.qatBits), activations: activations)
        case "prune":
            self = .prune(sparsity: try fraction("sparsity", meaning: "the fraction of weights set to zero"))
        case "binary":
            guard parts.count == 1 else { throw .invalidInput("--method '\(text)': binary takes no argument") }
            self = .binary
        case "filters":
            self = .filters(fraction: try fraction("fraction", meaning: "of the prunable filters, removed"))
        case "xnor":
            guard parts.count == 1 else { throw .invalidInput("--method '\(text)': xnor takes no argument") }
            self = .xnor
        default:
            throw .invalidInput("--method '\(text)' is not a compression method; the methods are \(Self.names)")
        }
    }

    /// Refuses what this method cannot do with `epochs` of fine-tuning.
    public func check(fineTuningEpochs epochs: Int) throws(NasError) {
        guard epochs == 0 else { return }
        if case .qat(_, activations: true) = self {
            throw .invalidInput("\(self) observes the activations' ranges while fine-tuning; give --finetune-epochs 1 or more")
        }
        if case .xnor = self {
            throw .invalidInput("xnor observes the scales of the binary inputs while fine-tuning; give --finetune-epochs 1 or more")
        }
    }

    static let names = "kmeans:B and linear:B (B = 1, 2, 4, 8; :folded for no per-channel scales), prune:S (0 < S < 1), filters:F (0 < F < 1), qat:B and qat:B:act (B = 4, 6, 8), binary and xnor"

    private static func example(_ name: String) -> String {
        switch name {
        case "prune": "prune:0.5"
        case "filters": "filters:0.25"
        case "qat": "qat:6 or qat:8:act"
        case "kmeans", "linear": "\(name):4 or \(name):4:folded"
        default: "\(name):4"
        }
    }

    public var description: String {
        switch self {
        case let .kmeans(bits, folded): "kmeans:\(bits)" + (folded ? ":folded" : "")
        case let .linear(bits, folded): "linear:\(bits)" + (folded ? ":folded" : "")
        case let .prune(sparsity): "prune:\(Self.decimal(sparsity))"
        case let .filters(fraction): "filters:\(Self.decimal(fraction))"
        case let .qat(bits, activations): "qat:\(bits)" + (activations ? ":act" : "")
        case .binary: "binary"
        case .xnor: "xnor"
        }
    }

    /// Weight sharing of the folded weights (`kmeans:B:folded`,
    /// `linear:B:folded`): batch norms frozen while fine-tuning.
    public var sharesFoldedWeights: Bool {
        switch self {
        case .kmeans(_, folded: true), .linear(_, folded: true): true
        default: false
        }
    }

    /// The variant's folder name: the description with `-` for `:`.
    public var slug: String { description.replacingOccurrences(of: ":", with: "-") }

    private static func decimal(_ value: Double) -> String {
        var text = String(value)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}
