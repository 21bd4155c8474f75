public import Core
import Engine
public import Model
import GSLNumerics
public import SearchSpace
public import VulkanEngine

/// An engine latency can be measured on: runs a network (or one operator unit
/// of it) at batch 1 under a measurement protocol. Latency does not depend on
/// the weights' values: random ones are used unless trained ones are given.
public protocol LatencyEngine {
    var device: DeviceFingerprint { get }
    func measure(_ network: Network, protocol measurement: MeasurementProtocol, weights: NetworkWeights?) throws -> LatencySample
}

extension LatencyEngine {
    public func measure(_ network: Network, protocol measurement: MeasurementProtocol) throws -> LatencySample {
        try measure(network, protocol: measurement, weights: nil)
    }

    func plan(_ network: Network, _ weights: NetworkWeights?) throws -> InferencePlan {
        try InferencePlan(network: network, weights: weights ?? .random(for: network, seed: 0))
    }
}

/// A fixed, non-trivial input: the same for every engine and measurement.
func fillProbe(_ buffer: UnsafeMutableBufferPointer<Float>) {
    for i in buffer.indices { buffer[i] = Float(i % 17) / 17 - 0.5 }
}

/// The CPU engine (oneDNN inference) at a fixed thread count.
public struct CPUEngine: LatencyEngine {
    public let threads: Int
    public let device: DeviceFingerprint
    private let context: ComputeContext

    public init(threads: Int) throws {
        self.threads = threads
        device = .cpu(threads: threads)
        context = try ComputeContext(threads: threads)
    }

    public func measure(_ network: Network, protocol measurement: MeasurementProtocol,
                        weights: NetworkWeights?) throws -> LatencySample {
        let engine = try InferenceNetwork(plan: plan(network, weights), context: context)
        engine.withInput(fillProbe)
        var measurement = measurement
        measurement.judgesThread = true  // oneDNN computes on the calling thread (its OpenMP master)
        return try measurement.measure { try engine.run() }
    }
}

/// The Vulkan engine on one device: wall time per submission (what an
/// application waits for), and the median GPU time from timestamp queries
/// when the device has them.
public struct VulkanDeviceEngine: LatencyEngine {
    public let device: DeviceFingerprint
    public let precision: VulkanPrecision
    private let context: VulkanContext

    public init(context: VulkanContext, precision: VulkanPrecision = .fp32) {
        self.context = context
        self.precision = precision
        device = .vulkan(context, precision: precision)
    }

    public func measure(_ network: Network, protocol measurement: MeasurementProtocol,
                        weights: NetworkWeights?) throws -> LatencySample {
        let engine = try VulkanNetwork(plan: plan(network, weights), context: context, precision: precision)
        engine.withInput(fillProbe)
        var gpu: [Double] = []
        var sample = try measurement.measure {
            try engine.run()
            if let t = engine.gpuMilliseconds { gpu.append(t) }
        }
        sample.gpuMedianMilliseconds = RobustStatistics.median(gpu)
        return sample
    }

    /// Each dispatch's median GPU time over `runs` runs after `warmup`, from a
    /// timestamp after every dispatch: where a network's time goes on the device.
    public func profile(_ network: Network, warmup: Int, runs: Int,
                        weights: NetworkWeights?) throws -> [(dispatch: String, medianMilliseconds: Double)] {
        let engine = try VulkanNetwork(plan: plan(network, weights), context: context, precision: precision, timingEachDispatch: true)
        engine.withInput(fillProbe)
        for _ in 0..<warmup { try engine.run() }
        var times = [[Double]](repeating: [], count: engine.dispatchLabels.count)
        for _ in 0..<runs {
            try engine.run()
            for (d, t) in engine.dispatchMilliseconds.enumerated() { times[d].append(t) }
        }
        return zip(engine.dispatchLabels, times).map { ($0, RobustStatistics.median($1) ?? 0) }
    }
}

/// The latency engine `name` names: oneDNN on `threads` CPU threads, or the
/// first Vulkan device (an environment error saying what to install when
/// there is none).
public func makeLatencyEngine(_ name: LatencyEngineName, threads: Int) throws -> any LatencyEngine {
    switch name {
    case .cpu: return try CPUEngine(threads: threads)
    case .vulkan: return VulkanDeviceEngine(context: try VulkanContext())
    }
}
