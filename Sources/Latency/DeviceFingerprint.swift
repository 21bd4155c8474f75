import Engine
import Foundation
import SearchSpace
public import VulkanEngine

/// What a latency figure was measured on. Latency data is keyed by engine
/// and fingerprint and never mixed across them.
public struct DeviceFingerprint: Sendable, Codable, Hashable {
    public var engine: String
    /// CPU model, or the Vulkan device's name.
    public var device: String
    /// CPU: the ISA oneDNN dispatches to and the activation layout; Vulkan: the
    /// driver version and the shaders' revision (new shaders are a new engine).
    public var detail: String
    public var threads: Int
    /// The library version (oneDNN, or the Vulkan API).
    public var library: String

    /// A short stable id: first 12 hex digits of SHA-256 of the fields.
    public var id: String {
        Architecture.hashText([engine, device, detail, "\(threads)", library].joined(separator: "|"))
    }

    /// The CPU engine on this machine at `threads` threads.
    public static func cpu(threads: Int) -> DeviceFingerprint {
        DeviceFingerprint(engine: "cpu", device: cpuModel(), detail: "\(ComputeContext.isa), nhwc", threads: threads,
                          library: "oneDNN \(ComputeContext.oneDNNVersion)")
    }

    /// The Vulkan engine on `context`'s device, storing values in `precision`.
    public static func vulkan(_ context: VulkanContext, precision: VulkanPrecision = .fp32) -> DeviceFingerprint {
        DeviceFingerprint(engine: "vulkan", device: context.deviceName,
                          detail: "driver \(context.driverVersion), shaders \(context.shaderRevision)" + (precision == .fp16 ? ", fp16 storage" : ""),
                          threads: 1,
                          library: "Vulkan \(context.apiVersion)")
    }

    /// The "model name" line of /proc/cpuinfo.
    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
