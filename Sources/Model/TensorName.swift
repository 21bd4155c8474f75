public import SearchSpace

/// The one naming scheme of a network's learnt tensors: `<layer>.<role>`,
/// the layer being the IR's (`b2.1.dw.weight`, `stem.bn.running_var`).
/// Training, the weights file, the inference plan, checkpoints and exporters
/// all name tensors through this type, so a rename happens in one place.
public struct TensorName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// What a tensor is to its layer, in the order a weights file stores them.
    public enum Role: String, Sendable, CaseIterable, Comparable {
        /// Convolution OIHW (grouped: GOIHW); linear O×I×1×1.
        case weight
        case bias
        /// Batch norm's γ.
        case scale
        /// Batch norm's β.
        case shift
        case runningMean = "running_mean"
        /// Unbiased, as PyTorch keeps it.
        case runningVariance = "running_var"

        /// Place in storage order.
        public var position: Int { Self.allCases.firstIndex(of: self)! }

        public static func < (a: Role, b: Role) -> Bool { a.position < b.position }
    }

    public let layer: String
    public let role: Role

    public init(_ layer: String, _ role: Role) {
        self.layer = layer
        self.role = role
    }

    public init(_ layer: Layer, _ role: Role) { self.init(layer.name, role) }

    /// Reads "<layer>.<role>"; nil when the text does not end in a known role.
    public init?(parsing text: String) {
        guard let dot = text.lastIndex(of: "."), let role = Role(rawValue: String(text[text.index(after: dot)...])) else {
            return nil
        }
        self.init(String(text[..<dot]), role)
    }

    public var description: String { "\(layer).\(role.rawValue)" }

    public static func < (a: TensorName, b: TensorName) -> Bool { (a.layer, a.role) < (b.layer, b.role) }

    /// The tensors a layer of this kind owns, in storage order.
    public static func owned(by layer: Layer) -> [TensorName] {
        switch layer.kind {
        case .conv: return layer.bias ? [TensorName(layer, .weight), TensorName(layer, .bias)] : [TensorName(layer, .weight)]
        case .linear: return [TensorName(layer, .weight), TensorName(layer, .bias)]
        case .batchNorm: return Role.allCases.dropFirst(2).map { TensorName(layer, $0) }
        case .relu6, .relu, .sigmoid, .add, .channelScale, .globalAveragePool: return []
        }
    }

    /// The plain shape of `role`'s tensor in `layer`: OIHW for a convolution's
    /// weight (GOIHW when grouped), O×I×H×W for the linear layer's (its input
    /// is the pooled C×1×1), one value per output channel otherwise.
    public static func plainShape(of role: Role, in layer: Layer) -> [Int] {
        let i = layer.inputShape, o = layer.outputShape, g = layer.groups
        switch (layer.kind, role) {
        case (.conv, .weight):
            return g == 1 ? [o.channels, i.channels, layer.kernel.height, layer.kernel.width]
                : [g, o.channels / g, i.channels / g, layer.kernel.height, layer.kernel.width]
        case (.linear, .weight): return [o.channels, i.channels, i.height, i.width]
        default: return [o.channels]
        }
    }
}

/// Batch normalisation's constants, shared by the trainer and every engine
/// that folds it: a folded network matches its trained one only when both
/// use the same ε.
public enum BatchNormalization {
    public static let epsilon: Float = 1e-5
    /// PyTorch's running-statistics momentum.
    public static let momentum: Float = 0.1
}
