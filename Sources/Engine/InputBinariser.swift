public import Model

/// Training with XNOR-Net's binary inputs: one convolution reads its input
/// as sign(x) · scale (`BinaryInput`) while every other reader of the tensor
/// (a residual add, the layer that wrote it going backward) keeps the real
/// values, as in XNOR-Net, where only the convolution's input is binarised.
///
/// The tensor is binarised in place just before the convolution runs, in
/// either direction (its weight gradient needs the binary input too), and
/// restored from a copy just after. The gradient the convolution hands back
/// for its binary input is passed on to the real one where |x| is within
/// √(π/2) times the scale (one standard deviation, for a normal tensor) and
/// zeroed beyond: the straight-through estimator clipped, as BinaryNet's
/// hardtanh window |x| ≤ 1 on a unit-variance input. Unclipped, the layers
/// before drift without bound: nothing in the loss resists a larger |x|,
/// only its sign counts (measured: mean |x| of 2·10⁷ after 780 steps on
/// mbv2-fm, and a network at chance). The scale follows the training batches' mean
/// |x| as a 1%-per-batch moving average (as activation ranges do,
/// `ActivationQuantiser`) and stays where training left it for inference.
public final class InputBinariser {
    /// The IR index of the convolution whose input is binarised.
    public let layer: Int
    private let value: Memory
    private let saved: Memory
    /// Values in the tensor, not counting a blocked layout's padding (zeros).
    private let elements: Int
    private var observedScale: Float?

    init(layer: Int, value: Memory, elements: Int, saved: Memory) {
        self.layer = layer
        self.value = value
        self.elements = elements
        self.saved = saved
    }

    /// The binarisation in force: nil until a batch has been seen.
    public var binarisation: BinaryInput? { observedScale.map(BinaryInput.init(scale:)) }

    /// Binarises the input for the convolution; `observe`: a training
    /// forward pass, which moves the scale first.
    func enter(observe: Bool) {
        let buffer = value.buffer
        if observe || observedScale == nil {
            var total: Float = 0
            for x in buffer { total += abs(x) }
            let mean = total / Float(max(elements, 1))
            observedScale = observedScale.map { $0 + ActivationQuantiser.momentum * (mean - $0) } ?? mean
        }
        _ = saved.buffer.update(fromContentsOf: buffer)
        binarisation!.binarise(UnsafeBufferPointer(saved.buffer), into: buffer)
    }

    /// Where the straight-through gradient stops, in scales.
    static let window = Float(1.2533141)  // √(π/2)

    /// Zeroes the convolution's gradient for its input where the real value
    /// lies outside the window; called between `enter` and `leave`, when
    /// `saved` holds the real values (`gradient` has the same layout).
    func clipGradient(_ gradient: Memory) {
        guard let scale = observedScale else { return }
        let window = scale * Self.window
        let real = saved.buffer, values = gradient.buffer
        for i in values.indices where abs(real[i]) > window { values[i] = 0 }
    }

    /// Puts the real values back.
    func leave() {
        _ = value.buffer.update(fromContentsOf: saved.buffer)
    }
}
