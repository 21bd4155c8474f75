/// The engines latency is measured on and stored for: oneDNN on the CPU, and
/// the Vulkan device. One name for the search space's target, the reward, the
/// run store's columns and the CLI's `--engine`.
public enum LatencyEngineName: String, Codable, Sendable, CaseIterable {
    case cpu, vulkan
}
