import Crypto
import Engine
import Foundation

/// What a latency figure was measured on. Latency data is keyed by engine
/// and fingerprint and never mixed across them.
public struct DeviceFingerprint: Sendable, Codable, Hashable {
    public var engine: String
    /// CPU model, or the Vulkan device's name.
    public var device: String
    /// CPU: the ISA oneDNN dispatches to and the activation layout; Vulkan: the driver version.
    public var detail: String
    public var threads: Int
    /// The library version (oneDNN, or the Vulkan API).
    public var library: String

    /// A short stable id: first 12 hex digits of SHA-256 of the fields.
    public var id: String {
        let text = [engine, device, detail, "\(threads)", library].joined(separator: "|")
        return SHA256.hash(data: Array(text.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// The CPU engine on this machine at `threads` threads.
    public static func cpu(threads: Int) -> DeviceFingerprint {
        DeviceFingerprint(engine: "cpu", device: cpuModel(), detail: "\(ComputeContext.isa), nhwc", threads: threads,
                          library: "oneDNN \(ComputeContext.oneDNNVersion)")
    }

    /// The "model name" line of /proc/cpuinfo.
    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
