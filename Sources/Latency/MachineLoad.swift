import Foundation

/// What else the machine was doing while a measurement's timed runs ran: a
/// latency taken on a busy machine measures the machine, not the network.
/// Kept with every sample, so a reader can tell a quiet figure from a
/// contended one, and used by the protocol to retake a disturbed one.
public struct MachineLoad: Sendable, Codable, Equatable {
    /// The 1-minute load average when the runs began (context: it lags by a minute).
    public var loadAverage: Double
    /// The measuring thread's CPU time over the runs' wall time: about 1 when
    /// nothing preempted it. Judged for the CPU engine, whose calling thread
    /// computes; a Vulkan measurement's thread waits on fences by design.
    public var threadShare: Double
    /// The share of the whole machine's CPU time other processes used during
    /// the runs; nil when the runs were too short for the kernel's 10 ms
    /// ticks to tell (under 40 ticks across all CPUs).
    public var othersBusy: Double?
    /// Whether the protocol judged the runs disturbed (and so retook them, while it had attempts left).
    public var disturbed: Bool

    enum CodingKeys: String, CodingKey {
        case loadAverage = "load_average", threadShare = "thread_share", othersBusy = "others_busy", disturbed
    }
}

/// A snapshot of the clocks and counters `MachineLoad` compares.
struct LoadProbe {
    let wallNanoseconds: UInt64
    let threadNanoseconds: UInt64
    /// /proc/stat's first line: ticks busy and in total, over all CPUs.
    let machineBusy, machineTotal: UInt64
    /// This process's user + system ticks (/proc/self/stat).
    let processTicks: UInt64

    static func now() -> LoadProbe {
        var thread = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &thread)
        let (busy, total) = machineTicks()
        return LoadProbe(wallNanoseconds: DispatchTime.now().uptimeNanoseconds,
                         threadNanoseconds: UInt64(thread.tv_sec) * 1_000_000_000 + UInt64(thread.tv_nsec),
                         machineBusy: busy, machineTotal: total, processTicks: processTicks())
    }

    /// The load from `start` to this probe.
    func load(since start: LoadProbe) -> (threadShare: Double, othersBusy: Double?) {
        let wall = Double(wallNanoseconds &- start.wallNanoseconds)
        let share = wall > 0 ? min(1, Double(threadNanoseconds &- start.threadNanoseconds) / wall) : 1
        let total = machineTotal &- start.machineTotal
        guard total >= 40, machineBusy >= start.machineBusy, processTicks >= start.processTicks else { return (share, nil) }
        let others = Double(machineBusy - start.machineBusy) - Double(processTicks - start.processTicks)
        return (share, max(0, others) / Double(total))
    }

    static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first else { return 0 }
        return Double(first) ?? 0
    }

    /// user + nice + system + irq + softirq + steal, and those + idle + iowait.
    private static func machineTicks() -> (UInt64, UInt64) {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return (0, 0) }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 8 else { return (0, 0) }
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return (busy, busy + fields[3] + fields[4])
    }

    private static func processTicks() -> UInt64 {
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return 0 }
        return user + system
    }
}
