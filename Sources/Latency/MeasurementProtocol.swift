import Foundation
import GSLNumerics

/// One latency measurement: robust statistics of N timed runs, in milliseconds.
public struct LatencySample: Sendable, Codable, Equatable {
    public var medianMilliseconds: Double
    public var p10Milliseconds: Double
    public var p90Milliseconds: Double
    /// Median absolute deviation from the median.
    public var madMilliseconds: Double
    public var runs: Int
    /// How many times the runs were taken before their spread was acceptable.
    public var attempts: Int
    /// Vulkan only: the median GPU time from timestamp queries, where the device has them.
    public var gpuMedianMilliseconds: Double?
    /// What else the machine did during the kept attempt's runs (nil in samples stored before it was recorded).
    public var load: MachineLoad?

    /// Spread relative to the median: MAD / median.
    public var relativeSpread: Double { medianMilliseconds > 0 ? madMilliseconds / medianMilliseconds : 0 }
}

/// How latency is measured: warm-up, then N individually timed runs; the
/// median and spread summarise them. A sample whose spread is too wide
/// (another process stole the core, the clock changed speed), or whose runs
/// were disturbed (the measuring thread held its core for less than
/// `minimumThreadShare` of the time, or other processes used more than
/// `maximumOthersBusy` of the machine), is rejected and taken again, up to
/// `attempts` times; the tightest undisturbed one is kept, else the tightest.
public struct MeasurementProtocol: Sendable {
    public var warmup: Int
    public var runs: Int
    /// Largest accepted MAD / median.
    public var maximumRelativeSpread: Double
    public var attempts: Int
    /// Whether the timed body computes on the calling thread (the CPU engine), so that its CPU time tells preemption.
    public var judgesThread = false
    public var minimumThreadShare = 0.9
    public var maximumOthersBusy = 0.25

    public init(warmup: Int = 50, runs: Int = 200, maximumRelativeSpread: Double = 0.05, attempts: Int = 3) {
        self.warmup = warmup
        self.runs = runs
        self.maximumRelativeSpread = maximumRelativeSpread
        self.attempts = attempts
    }

    public func measure(_ body: () throws -> Void) rethrows -> LatencySample {
        // The CLI checks its options; a protocol built elsewhere still gets at least one timed run.
        let warmup = max(0, warmup), runs = max(1, runs)
        var best: LatencySample?
        for attempt in 1...max(1, attempts) {
            for _ in 0..<warmup { try body() }
            let loadAverage = LoadProbe.loadAverage()
            let probe = LoadProbe.now()
            var times = [Double](repeating: 0, count: runs)
            for i in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                times[i] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            let (threadShare, othersBusy) = LoadProbe.now().load(since: probe)
            let disturbed = (judgesThread && threadShare < minimumThreadShare) || (othersBusy ?? 0) > maximumOthersBusy
            let q = RobustStatistics.quantiles(times, [0.1, 0.5, 0.9])!
            var sample = LatencySample(medianMilliseconds: q[1], p10Milliseconds: q[0], p90Milliseconds: q[2],
                                       madMilliseconds: RobustStatistics.medianAbsoluteDeviation(times)!,
                                       runs: runs, attempts: attempt)
            sample.load = MachineLoad(loadAverage: loadAverage, threadShare: threadShare, othersBusy: othersBusy, disturbed: disturbed)
            if best == nil || Self.better(sample, than: best!) { best = sample }
            if sample.relativeSpread <= maximumRelativeSpread && !disturbed { return sample }
        }
        var kept = best!
        kept.attempts = max(1, attempts)
        return kept
    }

    /// An undisturbed sample beats a disturbed one; then the tighter wins.
    private static func better(_ sample: LatencySample, than other: LatencySample) -> Bool {
        let (a, b) = (sample.load?.disturbed ?? false, other.load?.disturbed ?? false)
        return a != b ? !a : sample.relativeSpread < other.relativeSpread
    }
}
