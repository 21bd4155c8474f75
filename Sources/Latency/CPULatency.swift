import Engine
import SearchSpace

/// Batch-1 latency of an architecture on the CPU engine (oneDNN inference).
public enum CPULatency {
    /// Builds the inference network once, then measures `run()` under `protocol`.
    /// Latency does not depend on the weights' values; random ones are used
    /// unless trained ones are given.
    public static func measure(_ architecture: Architecture, threads: Int, protocol measurement: MeasurementProtocol,
                               weights: NetworkWeights? = nil) throws -> LatencySample {
        let network = Network(architecture)
        let context = try ComputeContext(threads: threads)
        let engine = try InferenceNetwork(network: network, weights: weights ?? .random(for: network, seed: 0),
                                          context: context)
        for i in 0..<engine.inputBuffer.count { engine.inputBuffer[i] = Float(i % 17) / 17 - 0.5 }
        return try measurement.measure { try engine.run() }
    }
}
