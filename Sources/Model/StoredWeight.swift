/// How a compressed model stores one convolution or linear weight tensor
/// (first dimension: output channels), folded batch norm included, and the
/// float32 values a runtime reads back from it.
///
/// Sizes count what a deployment must ship for the tensor: packed codes at
/// their bit width, codebooks and per-channel scales as float32, a sparse
/// tensor as a one-bit mask plus its non-zero values.
public enum StoredWeight: Sendable, Equatable {
    /// Weight sharing: `codebook[indices[i]] · channelScales[channel]`. The
    /// codebook is the layer's (k-means or uniform); the channel scales are
    /// the batch norm folded into the layer (nil: none, as in the classifier).
    case codebook(indices: [UInt8], bits: Int, codebook: [Float], channelScales: [Float]?)
    /// Integers of `bits` bits (binary weights: ±1 with bits = 1) times a
    /// float32 scale per output channel, batch norm folded into the scale.
    case integers(values: [Int8], bits: Int, scales: [Float])
    /// Dense float32 values, most of them zero: stored as a bitmask of the
    /// non-zeros and their values.
    case sparse(values: [Float])
    /// Plain float32 (a layer a method leaves at full precision).
    case dense(values: [Float])

    /// The tensor as float32, as a runtime decodes it.
    public var dequantised: [Float] {
        switch self {
        case let .codebook(indices, _, codebook, scales):
            guard let scales else { return indices.map { codebook[Int($0)] } }
            let perChannel = indices.count / max(scales.count, 1)
            return indices.indices.map { codebook[Int(indices[$0])] * scales[$0 / perChannel] }
        case let .integers(values, _, scales):
            let perChannel = values.count / max(scales.count, 1)
            return values.indices.map { Float(values[$0]) * scales[$0 / perChannel] }
        case let .sparse(values), let .dense(values):
            return values
        }
    }

    public var count: Int {
        switch self {
        case let .codebook(indices, _, _, _): indices.count
        case let .integers(values, _, _): values.count
        case let .sparse(values), let .dense(values): values.count
        }
    }

    /// Bytes a deployment ships for this tensor.
    public var storageBytes: Int {
        func packed(_ n: Int, _ bits: Int) -> Int { (n * bits + 7) / 8 }
        switch self {
        case let .codebook(indices, bits, codebook, scales):
            return packed(indices.count, bits) + 4 * codebook.count + 4 * (scales?.count ?? 0)
        case let .integers(values, bits, scales):
            return packed(values.count, bits) + 4 * scales.count
        case let .sparse(values):
            return packed(values.count, 1) + 4 * values.lazy.filter { $0 != 0 }.count
        case let .dense(values):
            return 4 * values.count
        }
    }

    /// The codes as symbols 0..<2^bits (codebook indices as they are,
    /// integer codes shifted up by 2^(bits−1); binary −1 → 0, +1 → 1); nil
    /// for the float encodings.
    public var symbols: (alphabet: Int, values: [Int])? {
        switch self {
        case let .codebook(indices, bits, _, _):
            return (1 << bits, indices.map(Int.init))
        case let .integers(values, bits, _):
            return (1 << bits, values.map { bits == 1 ? ($0 > 0 ? 1 : 0) : Int($0) + (1 << (bits - 1)) })
        case .sparse, .dense:
            return nil
        }
    }

    /// Bytes shipped with the codes Huffman-coded (`HuffmanCode`: its table
    /// and stream) where that is smaller than packing them, the rest as
    /// `storageBytes`: Deep Compression's last stage.
    public var huffmanBytes: Int {
        guard let (alphabet, values) = symbols else { return storageBytes }
        var counts = [Int](repeating: 0, count: alphabet)
        for v in values { counts[v] += 1 }
        let packed = (values.count * alphabet.trailingZeroBitCount + 7) / 8
        return storageBytes - packed + min(packed, HuffmanCode(counts: counts).storedBytes(counts: counts))
    }

    /// Fraction of the values that are exactly zero.
    public var sparsity: Double {
        let values = dequantised
        return Double(values.lazy.filter { $0 == 0 }.count) / Double(max(values.count, 1))
    }

    /// The encoding's name in reports: "codebook 4-bit", "int6", "binary", "sparse", "fp32".
    public var encoding: String {
        switch self {
        case let .codebook(_, bits, _, _): "codebook \(bits)-bit"
        case let .integers(_, bits, _): bits == 1 ? "binary" : "int\(bits)"
        case .sparse: "sparse"
        case .dense: "fp32"
        }
    }
}

extension InferencePlan {
    /// This plan with the convolution and linear weights that `stored` names
    /// (by `TensorName` of the weight) replaced by what their encodings decode
    /// to: the network a compressed model's files compute.
    public func decoding(_ stored: [String: StoredWeight]) -> InferencePlan {
        let steps = steps.map { step -> Step in
            let operation: Operation
            switch step.operation {
            case let .convolution(layer, weights, bias):
                operation = .convolution(layer: layer, weights: stored[TensorName(layer, .weight).description]?.dequantised ?? weights,
                                         bias: bias)
            case let .linear(layer, weights, bias):
                operation = .linear(layer: layer, weights: stored[TensorName(layer, .weight).description]?.dequantised ?? weights,
                                    bias: bias)
            default:
                operation = step.operation
            }
            return step.replacing(operation)
        }
        return InferencePlan(network: network, steps: steps)
    }
}
