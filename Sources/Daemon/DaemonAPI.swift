public import Core
public import Foundation
public import Runs

/// A run as the daemon lists it: `GET /runs` and the head of `GET /runs/{run}`.
/// The state is the daemon's: queued, active or stopping while it owns the
/// run's work; otherwise finished (budget spent), failed (its last drive
/// ended in an error), idle, or damaged (the run cannot be read, `failure` says why).
public struct ServedRun: Codable, Sendable {
    public let name, state, strategy: String
    public let done, budget: Int
    public let seed: UInt64
    public let bestReward: Double?
    public let failure: String?

    enum CodingKeys: String, CodingKey {
        case name, state, strategy, done, budget, seed, failure
        case bestReward = "best_reward"
    }

    /// Whether the daemon is driving the run now (or will, once a worker is free).
    public var isLive: Bool { ["queued", "active", "stopping"].contains(state) }
}

/// What a running export job is doing: `nas export`'s progress line.
public struct ExportProgress: Codable, Sendable {
    public let fraction: Double
    public let detail: String
}

/// An export job as `GET /runs/{run}/exports/{id}` shows it.
public struct ServedExport: Decodable, Sendable {
    public let id: Int
    public let run, state: String
    public let error: String?
    public let progress: ExportProgress?
    public let models: [ExportedModel]

    public var isOver: Bool { state == "done" || state == "failed" }
}

/// The API's calls the CLI makes, typed: `nas runs`, `status`, `export`,
/// `search` and `resume` read the same views a script reads, so a daemon on
/// another machine (`NASD_URL`) is driven without its runs directory.
extension DaemonClient {
    public func runs() throws(NasError) -> [ServedRun] {
        struct List: Decodable { let runs: [ServedRun] }
        return try decode(List.self, try request("GET", "/runs"), "list the runs").runs
    }

    /// A run's state and its candidates (what `nas status --json` prints).
    public func run(_ name: RunName) throws(NasError) -> (run: ServedRun, status: RunStatus) {
        // The run's fields and its `status`, side by side in one object.
        struct Detail: Decodable {
            let run: ServedRun
            let status: RunStatus
            enum Key: CodingKey { case status }
            init(from decoder: any Decoder) throws {
                run = try ServedRun(from: decoder)
                status = try decoder.container(keyedBy: Key.self).decode(RunStatus.self, forKey: .status)
            }
        }
        let detail = try decode(Detail.self, try request("GET", "/runs/\(name)"), "read run \(name)")
        return (detail.run, detail.status)
    }

    /// The id of the last event in a run's log: a run resumed or watched is followed from there, not from its earlier stops.
    public func lastEventID(_ name: RunName) throws(NasError) -> Int {
        var last = 0
        try follow("/runs/\(name)/events?follow=false") { event in
            if let id = event.id { last = max(last, id) }
            return true
        }
        return last
    }

    /// Queues an export; the job's id comes back.
    public func export(_ name: RunName, _ request: ExportRequest) throws(NasError) -> ServedExport {
        try decode(ServedExport.self, try self.request("POST", "/runs/\(name)/exports", json: request.jsonBody()), "start the export")
    }

    public func export(_ name: RunName, id: Int) throws(NasError) -> ServedExport {
        try decode(ServedExport.self, try request("GET", "/runs/\(name)/exports/\(id)"), "read export \(id)")
    }

    private func decode<T: Decodable>(_ type: T.Type, _ reply: Reply, _ what: String) throws(NasError) -> T {
        try check(reply, what)
        do { return try JSONDecoder().decode(type, from: reply.body) } catch {
            throw .environment("the daemon at \(address) answered an unexpected body to \(what) (\(error)); is it the same nasd version as this one?")
        }
    }
}

extension SearchRequest {
    /// The request as `POST /runs`'s body (the space's YAML inline: the
    /// daemon may not see the caller's files).
    public func jsonBody() -> Data {
        var object: [String: Any] = ["space_yaml": spaceYAML, "strategy": strategy.rawValue, "budget": budget, "seed": seed,
                                     "latency": latency.rawValue, "proxy": proxy.rawValue, "init": initialisation.rawValue]
        object["hours"] = hours
        object["run"] = runName
        object["engine"] = engine?.rawValue
        object["target_ms"] = targetMs
        object["constraint"] = constraint?.rawValue
        object["threads"] = threads
        object["parallel"] = parallel
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}

extension ExportRequest {
    /// The request as `POST /runs/{run}/exports`'s body.
    public func jsonBody() -> Data {
        var object: [String: Any] = ["pareto": pareto, "formats": formats, "weights": weights, "epochs": epochs,
                                     "threads": threads, "launches": launches]
        object["top"] = top
        object["subset"] = subset
        if !hashes.isEmpty { object["arch"] = hashes }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}
