public import Core
public import RunStore

/// The rules that read a stored candidate: a measured latency beats a
/// predicted one, and each figure is kept with the device it came from.
extension CandidateRecord {
    /// The latency on `engine`: measured when it was, else predicted.
    public func latency(on engine: LatencyEngineName) -> Double? {
        switch engine {
        case .cpu: return latencyCPUMs ?? predictedCPUMs
        case .vulkan: return latencyVulkanMs ?? predictedVulkanMs
        }
    }

    /// Records a latency figure on `engine` with the device it came from.
    public mutating func record(latency: Double, on engine: LatencyEngineName, predicted: Bool, fingerprint: String) {
        switch (engine, predicted) {
        case (.cpu, false): latencyCPUMs = latency
        case (.cpu, true): predictedCPUMs = latency
        case (.vulkan, false): latencyVulkanMs = latency
        case (.vulkan, true): predictedVulkanMs = latency
        }
        switch engine {
        case .cpu: fingerprintCPU = fingerprint
        case .vulkan: fingerprintVulkan = fingerprint
        }
    }

    /// Takes the objectives of an earlier evaluation of the same architecture.
    public mutating func reuse(_ earlier: CandidateRecord) {
        valAccuracy = earlier.valAccuracy
        latencyCPUMs = earlier.latencyCPUMs
        latencyVulkanMs = earlier.latencyVulkanMs
        predictedCPUMs = earlier.predictedCPUMs
        predictedVulkanMs = earlier.predictedVulkanMs
        weightBytes = earlier.weightBytes
        fingerprintCPU = earlier.fingerprintCPU
        fingerprintVulkan = earlier.fingerprintVulkan
        trainSeconds = 0
        status = .done
    }
}

