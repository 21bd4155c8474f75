public import Core
import Foundation

/// `nas bench serve`: what serving costs a search. A real daemon (a child
/// process) trains a tiny search whose proxy is stretched so that one
/// candidate trains through the whole measurement; this process, a client
/// like any other, sends `GET /runs/{run}` and `GET /runs/{run}/candidates`
/// over several kept-alive connections. Training speed is read from the
/// run's own progress events (steps × batch over the daemon's time).
///
/// On a shared two-core machine a quiet window's speed moves by ±10% from
/// one to the next, so one loaded window says little: the measurement
/// repeats rounds of quiet, requests, quiet, control, each loaded window
/// compared with the quiet ones on either side of it, and reports the
/// median over rounds, all on the same candidate. The control keeps one
/// thread of this process computing (no memory traffic) as long as the
/// requests took: what any busy core costs training here, beside what
/// serving costs it.
public struct ServeBenchmark: Encodable, Sendable {
    public let rounds, requests, answered, connections: Int
    /// Over every round's requests.
    public let p50Ms, p99Ms, maxMs: Double
    /// The median time one round's requests took.
    public let requestSeconds: Double
    /// Medians over the quiet windows and over the loaded ones.
    public let imagesPerSecondQuiet, imagesPerSecondLoaded: Double
    /// Per round, loaded over the mean of the quiet windows around it; and their median.
    public let trainingRatios: [Double]
    public let trainingRatio: Double
    /// Training images not trained because of the requests, per 1,000 requests
    /// (quiet rate less loaded rate, times the requests' time), median over
    /// rounds: what serving costs training whatever the load's intensity. A
    /// faster server under this closed-loop load serves the same requests in
    /// less time, more intensely, so its ratio alone can look worse.
    public let imagesLostPerThousandRequests: Double
    /// The same for the control.
    public let controlRatios: [Double]
    public let controlRatio: Double
    public let candidate: Int

    enum CodingKeys: String, CodingKey {
        case rounds, requests, answered, connections, candidate
        case p50Ms = "p50_ms", p99Ms = "p99_ms", maxMs = "max_ms", requestSeconds = "request_seconds"
        case imagesPerSecondQuiet = "images_per_second_quiet", imagesPerSecondLoaded = "images_per_second_loaded"
        case trainingRatios = "training_ratios", trainingRatio = "training_ratio"
        case imagesLostPerThousandRequests = "images_lost_per_1000_requests"
        case controlRatios = "control_ratios", controlRatio = "control_ratio"
    }

    /// The proxy: tiny's space, trained long enough (50k images × 60 epochs at
    /// batch 64, minutes) that every round falls within one candidate.
    static let batch = 64

    /// - Parameters:
    ///   - nas: the `nas` binary that serves.
    ///   - spaceYAML: tiny.yaml's text; its proxy is replaced.
    ///   - perRoute: requests to each of the two routes.
    ///   - quietSeconds: each window without requests.
    ///   - rounds: rounds of quiet, requests, quiet, control.
    public static func run(nas: String, spaceYAML: String, perRoute: Int, connections: Int, quietSeconds: Double, rounds: Int,
                           progress: (String) -> Void) throws -> ServeBenchmark {
        let runs = NSTemporaryDirectory() + "nasd-bench-serve-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: nas)
        daemon.arguments = ["serve", "--runs", runs, "--listen", "127.0.0.1:0"]
        let out = Pipe()
        daemon.standardOutput = out
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { daemon.terminate(); daemon.waitUntilExit() }
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("nasd listening on "), let address = try? ListenAddress(parsing: text.components(separatedBy: " ")[3]) else {
            throw NasError.environment("nas serve did not start: \(text)")
        }
        let client = DaemonClient(address: address, token: nil)

        var proxy = spaceYAML.components(separatedBy: "\nproxy:")[0]
        proxy += "\nproxy:\n  subset: 50000\n  epochs: 60\n  batch: \(batch)\n  learning_rate: 0.1\n"
        proxy += "\nlatency:" + (spaceYAML.components(separatedBy: "\nlatency:").dropFirst().first ?? "")
        let body = try JSONSerialization.data(withJSONObject: [
            "space_yaml": proxy, "strategy": "random", "budget": 1000, "seed": 1, "threads": 1, "parallel": 1, "run": "bench",
        ])
        try client.check(try client.request("POST", "/runs", json: body), "start the benchmark's run")

        // The run's training steps, as its progress events report them.
        let samples = Samples()
        let follower = Thread {
            try? client.follow("/runs/bench/events") { event in
                guard event.kind == "progress",
                      let f = (try? JSONSerialization.jsonObject(with: Data(event.data.utf8))) as? [String: Any],
                      let index = f["index"] as? Int, let epoch = f["epoch"] as? Int, let step = f["step"] as? Int,
                      let perEpoch = f["steps_per_epoch"] as? Int, let at = (f["at"] as? String).flatMap(Samples.time) else {
                    return !samples.done
                }
                samples.add(index: index, step: (epoch - 1) * perEpoch + step, at: at)
                return !samples.done
            }
        }
        follower.start()
        defer { samples.finish() }

        for attempt in 1...4 {
            progress("waiting for a candidate to train (attempt \(attempt))")
            let candidate = try samples.waitForTraining(timeout: 120)
            Thread.sleep(forTimeInterval: 1)  // past the candidate's first steps (data loading, primitive creation)
            // Windows in order: quiet, then per round requests, quiet, control, quiet.
            var windows: [(start: Date, end: Date)] = []
            func window(_ body: () throws -> Void) rethrows {
                let start = Date()
                try body()
                windows.append((start, Date()))
            }
            var latencies: [Double?] = []
            window { Thread.sleep(forTimeInterval: quietSeconds) }
            for round in 1...rounds {
                progress("round \(round)/\(rounds): \(2 * perRoute) requests over \(connections) connections, then the control")
                try window { latencies += try load(client, perRoute: perRoute, connections: connections) }
                window { Thread.sleep(forTimeInterval: quietSeconds) }
                let took = windows[windows.count - 2].end.timeIntervalSince(windows[windows.count - 2].start)
                window { spin(until: Date().addingTimeInterval(took)) }
                window { Thread.sleep(forTimeInterval: quietSeconds) }
            }
            Thread.sleep(forTimeInterval: 0.5)  // the step after the last window's end has reported
            let rates = windows.map { samples.rate(of: candidate, from: $0.start, to: $0.end, batch: batch) }
            guard samples.latestIndex == candidate, !rates.contains(nil) else {
                progress("the candidate changed during the measurement; again on the next one")
                continue
            }
            let r: [Double] = rates.map { $0! }
            // Round k's windows are 4k+1 (requests), 4k+3 (control); the even ones are quiet.
            let quiet: [Double] = stride(from: 0, to: r.count, by: 2).map { r[$0] }
            var loaded: [Double] = [], control: [Double] = [], trainingRatios: [Double] = [], controlRatios: [Double] = []
            var requestSeconds: [Double] = [], lost: [Double] = []
            for k in 0..<rounds {
                loaded.append(r[4 * k + 1])
                control.append(r[4 * k + 3])
                trainingRatios.append(r[4 * k + 1] / ((quiet[2 * k] + quiet[2 * k + 1]) / 2))
                controlRatios.append(r[4 * k + 3] / ((quiet[2 * k + 1] + quiet[2 * k + 2]) / 2))
                requestSeconds.append(windows[4 * k + 1].end.timeIntervalSince(windows[4 * k + 1].start))
                lost.append(((quiet[2 * k] + quiet[2 * k + 1]) / 2 - r[4 * k + 1]) * requestSeconds[k] / Double(2 * perRoute) * 1000)
            }
            let sorted = latencies.compactMap { $0 }.sorted()
            func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
            return ServeBenchmark(rounds: rounds, requests: latencies.count, answered: sorted.count, connections: connections,
                                  p50Ms: percentile(0.5), p99Ms: percentile(0.99), maxMs: (sorted.last ?? 0) * 1000,
                                  requestSeconds: median(requestSeconds), imagesPerSecondQuiet: median(quiet),
                                  imagesPerSecondLoaded: median(loaded), trainingRatios: trainingRatios,
                                  trainingRatio: median(trainingRatios), imagesLostPerThousandRequests: median(lost),
                                  controlRatios: controlRatios,
                                  controlRatio: median(controlRatios), candidate: candidate)
        }
        throw NasError.environment("no candidate trained through a whole measurement in 4 attempts; the machine may be too busy")
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Keeps the calling thread busy with arithmetic (no memory traffic) until `deadline`.
    private static func spin(until deadline: Date) {
        var x = 1.0
        while Date() < deadline {
            for _ in 0..<100_000 { x = x * 1.000000001 + 1e-9 }
        }
        if x.isNaN { print(x) }  // keeps the loop from being optimised away
    }

    /// Each connection sends its share, alternating the two routes; nil marks a request not answered with 200.
    private static func load(_ client: DaemonClient, perRoute: Int, connections: Int) throws -> [Double?] {
        let results = Samples.Latencies()
        let group = DispatchGroup()
        for c in 0..<connections {
            group.enter()
            Thread {
                defer { group.leave() }
                let share = (2 * perRoute) / connections + (c < (2 * perRoute) % connections ? 1 : 0)
                guard let session = try? client.session() else { results.add(Array(repeating: nil, count: share)); return }
                var mine: [Double?] = []
                for i in 0..<share {
                    let path = (i + c) % 2 == 0 ? "/runs/bench" : "/runs/bench/candidates?limit=100"
                    let start = Date()
                    let reply = try? session.get(path)
                    mine.append(reply?.status == 200 ? Date().timeIntervalSince(start) : nil)
                }
                results.add(mine)
            }.start()
        }
        group.wait()
        return results.all
    }
}

/// Progress samples (time, candidate, global step), shared between the follower thread and the measurement.
private final class Samples: @unchecked Sendable {
    private let lock = NSLock()
    private var points: [(at: Date, index: Int, step: Int)] = []
    private var stopped = false

    func add(index: Int, step: Int, at: Date) { lock.withLock { points.append((at, index, step)) } }
    func finish() { lock.withLock { stopped = true } }
    var done: Bool { lock.withLock { stopped } }
    var latestIndex: Int? { lock.withLock { points.last?.index } }

    /// A progress event's `at`.
    static func time(_ text: String) -> Date? { try? eventTime.parse(text) }

    func waitForTraining(timeout: Double) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        let start = Date()
        while Date() < deadline {
            if let last = lock.withLock({ points.last }), last.at > start { return last.index }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw NasError.environment("the benchmark's run reported no training in \(Int(timeout)) s")
    }

    /// Images/s of candidate `index` from `from` to `to`. Each progress event
    /// carries the daemon's time at the end of its step, so the steps done at
    /// either end are interpolated between the events around it (about 200 ms
    /// apart): the window is measured on the daemon's clock, not on when the
    /// events reached this process through the server being loaded.
    func rate(of index: Int, from: Date, to: Date, batch: Int) -> Double? {
        let mine = lock.withLock { points.filter { $0.index == index } }.sorted { $0.at < $1.at }
        func step(at t: Date) -> Double? {
            guard let next = mine.firstIndex(where: { $0.at >= t }), next > 0 else { return nil }
            let (a, b) = (mine[next - 1], mine[next])
            let span = b.at.timeIntervalSince(a.at)
            return Double(a.step) + (span > 0 ? t.timeIntervalSince(a.at) / span : 0) * Double(b.step - a.step)
        }
        guard to > from, let first = step(at: from), let last = step(at: to), last > first else { return nil }
        return (last - first) * Double(batch) / to.timeIntervalSince(from)
    }

    final class Latencies: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var all: [Double?] = []
        func add(_ some: [Double?]) { lock.withLock { all += some } }
    }
}
