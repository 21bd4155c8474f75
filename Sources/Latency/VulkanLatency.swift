import Engine
import Numerics
import SearchSpace
import VulkanEngine

/// Batch-1 latency of an architecture on the Vulkan engine.
public enum VulkanLatency {
    /// Wall time per submission (what an application waits for) under
    /// `protocol`, and the median GPU time from timestamp queries when the
    /// device has them.
    public static func measure(_ architecture: Architecture, context: VulkanContext, protocol measurement: MeasurementProtocol,
                               weights: NetworkWeights? = nil) throws -> (wall: LatencySample, gpuMedianMilliseconds: Double?) {
        let network = Network(architecture)
        let plan = try InferencePlan(network: network, weights: weights ?? .random(for: network, seed: 0))
        let engine = try VulkanNetwork(plan: plan, context: context)
        for i in 0..<engine.inputBuffer.count { engine.inputBuffer[i] = Float(i % 17) / 17 - 0.5 }
        var gpu: [Double] = []
        let wall = try measurement.measure {
            try engine.run()
            if let t = engine.gpuMilliseconds { gpu.append(t) }
        }
        return (wall, RobustStatistics.median(gpu))
    }
}

extension DeviceFingerprint {
    /// The Vulkan engine on `context`'s device.
    public static func vulkan(_ context: VulkanContext) -> DeviceFingerprint {
        DeviceFingerprint(engine: "vulkan", device: context.deviceName, detail: "driver \(context.driverVersion)", threads: 1,
                          library: "Vulkan \(context.apiVersion)")
    }
}
