public import Model

/// Quantisation-aware training of one activation tensor: after the layer
/// that writes it runs forward, its values are replaced in place by their
/// fake-quantised ones (`ActivationQuantisation`), so every layer reading it
/// computes on what an integer deployment would hold; backward, the
/// straight-through estimator passes the gradient unchanged except where a
/// value saturated at either end of the range.
///
/// A range an activation does not fix (a linear bottleneck's output, an
/// add's, ReLU's) follows the largest magnitude of the training batches as
/// an exponential moving average, as TensorFlow's and PyTorch's observers
/// do, and stays where training left it for inference.
public final class ActivationQuantiser {
    /// The IR layer whose output is quantised.
    public let layer: Int
    public let bits: Int
    public let signed: Bool
    private let fixedRange: Float?
    private var observedRange: Float?
    private let value: Memory
    private let gradient: Memory

    /// Weight of the newest batch in the moving average of the range.
    static let momentum: Float = 0.01

    init(layer: Int, bits: Int, signed: Bool, fixedRange: Float?, value: Memory, gradient: Memory) {
        self.layer = layer
        self.bits = bits
        self.signed = signed
        self.fixedRange = fixedRange
        self.value = value
        self.gradient = gradient
    }

    /// The quantisation in force: nil while an observed range has seen no batch.
    public var quantisation: ActivationQuantisation? {
        (fixedRange ?? observedRange).map { ActivationQuantisation(bits: bits, signed: signed, range: $0) }
    }

    func forward(training: Bool) {
        let buffer = value.buffer
        if fixedRange == nil, training || observedRange == nil {
            var largest: Float = 0
            if signed { for x in buffer { largest = max(largest, abs(x)) } } else { for x in buffer { largest = max(largest, x) } }
            observedRange = observedRange.map { $0 + Self.momentum * (largest - $0) } ?? largest
        }
        quantisation?.quantise(buffer)
    }

    func backward() {
        guard let quantisation else { return }
        let values = value.buffer, gradients = gradient.buffer
        let (low, high) = quantisation.saturation
        for i in values.indices where values[i] <= low || values[i] >= high { gradients[i] = 0 }
    }
}
