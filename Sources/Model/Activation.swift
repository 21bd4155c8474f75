public import SearchSpace

/// The activations the IR uses, as every engine and exporter names them.
/// Each engine maps this type to its own representation once (oneDNN's
/// eltwise algorithm, a shader's code, an ONNX operator); none maps IR layer
/// kinds itself.
public enum Activation: String, Sendable, CaseIterable, Codable {
    /// min(max(x, 0), 6): MobileNet's activation, everywhere but the SE branch.
    case relu6
    /// The SE branch's reduction.
    case relu
    /// The SE gate.
    case sigmoid

    /// The activation an IR layer computes; nil for any other kind of layer.
    public init?(_ kind: Layer.Kind) {
        switch kind {
        case .relu6: self = .relu6
        case .relu: self = .relu
        case .sigmoid: self = .sigmoid
        case .conv, .batchNorm, .add, .channelScale, .globalAveragePool, .linear: return nil
        }
    }
}
