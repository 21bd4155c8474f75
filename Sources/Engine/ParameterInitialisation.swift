public import Core
import GSLNumerics

extension WeightInitialisation {
    /// Draws `weight` (then `bias`, when the scheme draws biases) from
    /// `stream`; `fanIn` is the inputs each output sums over.
    func initialise(weight: Parameter, bias: Parameter?, fanIn: Int, from stream: RandomStream) throws(DNNLError) {
        let fanIn = Double(max(fanIn, 1))
        switch self {
        case .heNormal:
            let std = (2.0 / fanIn).squareRoot()
            try weight.setValues((0..<weight.count).map { _ in Float(stream.normal(standardDeviation: std)) })
        case .fanInUniform:
            let bound = 1 / fanIn.squareRoot()
            try weight.setValues((0..<weight.count).map { _ in Float(stream.uniform(-bound, bound)) })
            if let bias {
                try bias.setValues((0..<bias.count).map { _ in Float(stream.uniform(-bound, bound)) })
            }
        }
    }
}
