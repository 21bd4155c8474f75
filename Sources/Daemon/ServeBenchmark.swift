public import Core
import Foundation

/// `nas bench serve`: what serving costs a search. A real daemon (a child
/// process) trains a tiny search whose proxy is stretched so that one
/// candidate trains through the whole measurement; this process, a client
/// like any other, sends `GET /runs/{run}` and `GET /runs/{run}/candidates`
/// over several kept-alive connections. Training speed is read from the
/// run's own progress events (steps × batch over time), in a window without
/// requests before and after the loaded one, all on the same candidate.
public struct ServeBenchmark: Encodable, Sendable {
    public let requests, answered, connections: Int
    public let p50Ms, p99Ms, maxMs, requestSeconds: Double
    /// Training images/s before the requests, during them, and after.
    public let imagesPerSecondBefore, imagesPerSecondLoaded, imagesPerSecondAfter: Double
    /// Loaded over the mean of before and after.
    public let trainingRatio: Double
    public let candidate: Int

    enum CodingKeys: String, CodingKey {
        case requests, answered, connections, candidate
        case p50Ms = "p50_ms", p99Ms = "p99_ms", maxMs = "max_ms", requestSeconds = "request_seconds"
        case imagesPerSecondBefore = "images_per_second_before", imagesPerSecondLoaded = "images_per_second_loaded"
        case imagesPerSecondAfter = "images_per_second_after", trainingRatio = "training_ratio"
    }

    /// The proxy: tiny's space, trained long enough (50k images × 12 epochs at
    /// batch 64) that the windows fall within one candidate.
    static let batch = 64

    /// - Parameters:
    ///   - nas: the `nas` binary that serves.
    ///   - spaceYAML: tiny.yaml's text; its proxy is replaced.
    ///   - perRoute: requests to each of the two routes.
    ///   - quietSeconds: each window without requests.
    public static func run(nas: String, spaceYAML: String, perRoute: Int, connections: Int, quietSeconds: Double,
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
        proxy += "\nproxy:\n  subset: 50000\n  epochs: 12\n  batch: \(batch)\n  learning_rate: 0.1\n"
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
                      let perEpoch = f["steps_per_epoch"] as? Int else { return !samples.done }
                samples.add(index: index, step: (epoch - 1) * perEpoch + step)
                return !samples.done
            }
        }
        follower.start()
        defer { samples.finish() }

        for attempt in 1...4 {
            progress("waiting for a candidate to train (attempt \(attempt))")
            let candidate = try samples.waitForTraining(timeout: 120)
            Thread.sleep(forTimeInterval: 1)  // past the candidate's first steps (data loading, primitive creation)
            let before = try samples.rate(of: candidate, over: quietSeconds, batch: batch)
            progress(String(format: "before: %.0f img/s; sending %d requests over %d connections", before, 2 * perRoute, connections))
            let loadStart = Date()
            let latencies = try load(client, perRoute: perRoute, connections: connections)
            let loadEnd = Date()
            let after = try samples.rate(of: candidate, over: quietSeconds, batch: batch)
            // Measured once the samples after the load are in.
            let loaded = samples.rate(of: candidate, from: loadStart, to: loadEnd, batch: batch)
            guard let loaded, before > 0, after > 0, samples.latestIndex == candidate else {
                progress("the candidate changed during the measurement; again on the next one")
                continue
            }
            let sorted = latencies.compactMap { $0 }.sorted()
            func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
            return ServeBenchmark(requests: latencies.count, answered: sorted.count, connections: connections,
                                  p50Ms: percentile(0.5), p99Ms: percentile(0.99), maxMs: (sorted.last ?? 0) * 1000,
                                  requestSeconds: loadEnd.timeIntervalSince(loadStart),
                                  imagesPerSecondBefore: before, imagesPerSecondLoaded: loaded, imagesPerSecondAfter: after,
                                  trainingRatio: loaded / ((before + after) / 2), candidate: candidate)
        }
        throw NasError.environment("no candidate trained through a whole measurement in 4 attempts; the machine may be too busy")
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

    func add(index: Int, step: Int) { lock.withLock { points.append((Date(), index, step)) } }
    func finish() { lock.withLock { stopped = true } }
    var done: Bool { lock.withLock { stopped } }
    var latestIndex: Int? { lock.withLock { points.last?.index } }

    func waitForTraining(timeout: Double) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        let start = Date()
        while Date() < deadline {
            if let last = lock.withLock({ points.last }), last.at > start { return last.index }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw NasError.environment("the benchmark's run reported no training in \(Int(timeout)) s")
    }

    /// The rate over the next `seconds`.
    func rate(of index: Int, over seconds: Double, batch: Int) throws -> Double {
        let start = Date()
        Thread.sleep(forTimeInterval: seconds)
        return rate(of: index, from: start, to: Date(), batch: batch) ?? 0
    }

    /// Images/s of candidate `index` from the last sample at or before `from`
    /// to the first at or after `to`: a window shorter than the events'
    /// interval (200 ms) is measured across the samples around it.
    func rate(of index: Int, from: Date, to: Date, batch: Int) -> Double? {
        let mine = lock.withLock { points.filter { $0.index == index } }
        guard let first = mine.last(where: { $0.at <= from }) ?? mine.first(where: { $0.at >= from }),
              let last = mine.first(where: { $0.at >= to }) ?? mine.last(where: { $0.at <= to }),
              last.at > first.at, last.step > first.step else { return nil }
        return Double((last.step - first.step) * batch) / last.at.timeIntervalSince(first.at)
    }

    final class Latencies: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var all: [Double?] = []
        func add(_ some: [Double?]) { lock.withLock { all += some } }
    }
}
