public import Model
import GSLNumerics
public import SearchSpace

extension NetworkWeights {
    /// `random(for:using:)` drawn from the stream "random-weights" of `seed`:
    /// the weights the latency engines and parity checks use when none are trained.
    public static func random(for network: Network, seed: UInt64) -> NetworkWeights {
        random(for: network, using: RandomStream(seed: seed, name: "random-weights"))
    }
}
