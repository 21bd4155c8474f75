/// Softmax cross-entropy with optional label smoothing over N×K logits.
public struct SoftmaxCrossEntropy: Sendable {
    public let labelSmoothing: Float

    public init(labelSmoothing: Float = 0) { self.labelSmoothing = labelSmoothing }

    /// Mean loss over the batch and the number of correct top-1 predictions.
    /// With `gradient`, writes ∂loss/∂logits (already divided by the batch).
    @discardableResult
    public func evaluate(logits: UnsafeBufferPointer<Float>, labels: ArraySlice<UInt8>, classes: Int,
                         gradient: UnsafeMutableBufferPointer<Float>? = nil) -> (loss: Double, correct: Int) {
        let n = labels.count
        var total = 0.0
        var correct = 0
        let off = labelSmoothing / Float(classes)
        let on = 1 - labelSmoothing + off
        var probabilities = [Float](repeating: 0, count: classes)
        for (row, label) in labels.enumerated() {
            let z = logits.baseAddress! + row * classes
            var best = 0
            var maximum = z[0]
            for k in 1..<classes where z[k] > maximum {
                maximum = z[k]
                best = k
            }
            if best == Int(label) { correct += 1 }
            var sum: Float = 0
            for k in 0..<classes {
                probabilities[k] = (z[k] - maximum).exp()
                sum += probabilities[k]
            }
            let logSum = sum.log()
            for k in 0..<classes {
                let target = k == Int(label) ? on : off
                total -= Double(target * (z[k] - maximum - logSum))
                if let gradient {
                    gradient[row * classes + k] = (probabilities[k] / sum - target) / Float(n)
                }
            }
        }
        return (total / Double(n), correct)
    }
}

extension Float {
    func exp() -> Float { Float(Foundation.exp(Double(self))) }
    func log() -> Float { Float(Foundation.log(Double(self))) }
}

import Foundation
