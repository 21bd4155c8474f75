/// Fake quantisation of one activation tensor: the values an integer
/// deployment would hold for it, as float. Codes are two's complement for a
/// signed tensor (−2^(bits−1)…2^(bits−1) − 1: int8, zero point 0) and
/// 0…2^bits − 1 for one that is never negative (after ReLU, ReLU6 or a
/// sigmoid: uint8, zero point 0), times a step of `range` / the largest
/// code, so that at 8 bits QuantizeLinear's own saturation is the clamp. Rounding is half to even, as ONNX's QuantizeLinear does.
public struct ActivationQuantisation: Sendable, Hashable, Codable {
    public let bits: Int
    public let signed: Bool
    /// The largest magnitude represented; beyond it values saturate.
    public let range: Float

    public init(bits: Int, signed: Bool, range: Float) {
        self.bits = bits
        self.signed = signed
        // A tensor seen only as zeros still needs a step that is not zero.
        self.range = range > 0 && range.isFinite ? range : 1
    }

    /// The largest code.
    public var levels: Int { signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1 }
    public var lowestCode: Int { signed ? -levels - 1 : 0 }
    public var step: Float { range / Float(levels) }

    public func code(_ x: Float) -> Float {
        min(max((x / step).rounded(.toNearestOrEven), Float(lowestCode)), Float(levels))
    }

    public func quantise(_ x: Float) -> Float { code(x) * step }

    /// Quantises every value of `buffer` in place, as `quantise` does one,
    /// with the step and bounds worked out once (this runs over every
    /// activation of every training step).
    public func quantise(_ buffer: UnsafeMutableBufferPointer<Float>) {
        let step = step, low = Float(lowestCode), high = Float(levels)
        for i in buffer.indices {
            buffer[i] = min(max((buffer[i] / step).rounded(.toNearestOrEven), low), high) * step
        }
    }

    /// Where quantised values count as saturated (the straight-through
    /// estimator passes them no gradient): at or beyond `range` at the top,
    /// at the lowest code at the bottom; a tensor that is never negative
    /// saturates only at the top.
    public var saturation: (low: Float, high: Float) {
        (signed ? Float(lowestCode) * step : -.infinity, range)
    }

    public func saturated(_ quantised: Float) -> Bool {
        quantised <= saturation.low || quantised >= saturation.high
    }

    /// What an activation fixes about its output's range: nil for none.
    /// ReLU6 ends at 6 and a sigmoid at 1; ReLU's top has to be observed.
    public static func fixedRange(after activation: Activation?) -> (signed: Bool, range: Float?) {
        switch activation {
        case .relu6: (false, 6)
        case .sigmoid: (false, 1)
        case .relu: (false, nil)
        case nil: (true, nil)
        }
    }
}

extension InferencePlan {
    /// The tensors an integer deployment holds between steps (every step's
    /// output but the logits, by IR layer index), whether each can be
    /// negative, and the range its activation fixes (nil: to be observed).
    /// A pooled or gated tensor of non-negative inputs is non-negative too.
    public var quantisableOutputs: [(layer: Int, signed: Bool, fixedRange: Float?)] {
        var nonNegative: Set<Int> = []
        return steps.dropLast().map { step in
            var (signed, range) = ActivationQuantisation.fixedRange(after: step.finalActivation)
            if step.postOps.isEmpty {
                switch step.operation {
                case .globalAveragePool, .channelScale:
                    signed = !step.inputs.allSatisfy(nonNegative.contains)
                default:
                    break
                }
            }
            if !signed { nonNegative.insert(step.output) }
            return (step.output, signed, range)
        }
    }

    /// This plan with the outputs `quantisations` names (by IR layer index)
    /// fake-quantised.
    public func quantisingActivations(_ quantisations: [Int: ActivationQuantisation]) -> InferencePlan {
        InferencePlan(network: network, steps: steps.map { $0.quantising(quantisations[$0.output]) })
    }
}
