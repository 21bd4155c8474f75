/// XNOR-Net's binarised input of a convolution: sign(x) · `scale`, so a
/// convolution with binary weights computes on ±1 (or 0/1) inputs, XNOR and
/// bit counts on a device with binary kernels.
///
/// An MBConv's convolutions read ReLU6 outputs, which are never negative:
/// there sign(x) is 1 where the batch norm before the ReLU6 was positive and
/// 0 elsewhere, which is (sign(BN(x)) + 1) / 2 — XNOR-Net's ±1 input up to a
/// per-channel affine map the batch norm after the convolution absorbs, so
/// the block need not be reordered. The scale is one per tensor (the mean
/// |x| training saw), not XNOR-Net's per-pixel K: a depthwise convolution
/// reads one channel, where K = |x| would undo the binarisation, and a
/// batch norm follows almost every convolution here anyway. sign(0) is 0, as
/// ONNX's Sign gives.
public struct BinaryInput: Sendable, Hashable, Codable {
    public let scale: Float

    public init(scale: Float) {
        // A tensor seen only as zeros still needs a finite, non-zero scale.
        self.scale = scale > 0 && scale.isFinite ? scale : 1
    }

    public func binarise(_ x: Float) -> Float {
        x > 0 ? scale : x < 0 ? -scale : 0
    }

    /// Writes every value of `source` binarised into `destination` (the same count).
    public func binarise(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float>) {
        let scale = scale
        for i in source.indices {
            let x = source[i]
            destination[i] = x > 0 ? scale : x < 0 ? -scale : 0
        }
    }
}

extension InferencePlan {
    /// The convolutions whose inputs `xnor` binarises, by IR layer index:
    /// every one but the first, which reads the image (XNOR-Net keeps the
    /// first layer and the classifier at full precision).
    public var binarisableConvolutions: [Int] {
        let convolutions = steps.compactMap { step -> Int? in
            if case .convolution = step.operation { return step.layers[0] }
            return nil
        }
        return Array(convolutions.dropFirst())
    }

    /// This plan with the inputs of the convolutions `binarisations` names
    /// (by IR layer index of the convolution) binarised.
    public func binarisingInputs(_ binarisations: [Int: BinaryInput]) -> InferencePlan {
        InferencePlan(network: network, steps: steps.map { $0.binarisingInput(binarisations[$0.layers[0]]) })
    }

    /// Whether some step rounds its output or binarises its input: a network
    /// only the CPU engine and onnxruntime compute (the shaders and ncnn's
    /// layers work in float throughout).
    public var transformsActivations: Bool {
        steps.contains { $0.outputQuantisation != nil || $0.inputBinarisation != nil }
    }
}
