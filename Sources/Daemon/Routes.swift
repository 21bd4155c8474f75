import Core
import Foundation
import Hummingbird
import RunStore
import Runs
import Search

/// The API's routes (openapi.yaml describes each; DaemonTests checks the two
/// agree). Handlers parse and check the request, then do store reads and run
/// creation off the server's threads (`blocking`), since both touch disk and
/// creating a run loads the data set and the engines.
struct Routes: Sendable {
    let scheduler: RunScheduler
    let exports: ExportJobs
    let folder: RunsFolder
    let runs: OpenRuns
    let spaces: String
    let lifecycle: Lifecycle

    /// A request body's limit: a search request is a few hundred bytes, a space's YAML a few KiB.
    static let bodyLimit = 64 * 1024

    func register(on router: Router<BasicRequestContext>) {
        router.get("healthz") { _, _ in
            let (queued, active) = scheduler.counts
            return try json(Health(status: lifecycle.isStopping ? "stopping" : "ok", queued: queued, active: active))
        }
        router.get("metrics") { _, _ in
            let (queued, active) = scheduler.counts
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: scheduler.metrics.exposition(queued: queued, active: active))))
        }
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
        router.get("runs") { _, _ in
            // One unreadable run does not hide the others: it is listed as damaged, with why.
            try await blocking { [self] in
                try json(RunList(runs: try folder.storedNames().map { name in
                    do { return try summary(name) } catch {
                        return ServedRun(name: name.text, state: "damaged", strategy: "", done: 0, budget: 0, seed: 0,
                                          bestReward: nil, failure: "\(error)")
                    }
                }))
            }
        }
        router.post("runs") { request, _ in
            let data = try await body(of: request)
            let search = try SearchBody(json: data, spaces: spaces).request
            let name = try await blocking { [self] in
                try scheduler.submit(try search.prepare(.json, latencyTable: folder.latencyTable,
                                                        cores: max(1, RunsFolder.machineCores / scheduler.workers)))
            }
            return try json(try await blocking { [self] in try summary(name) }, status: .created,
                            headers: [.location: "/runs/\(name)"])
        }
        router.get("runs/:run") { _, context in
            let name = try runName(context)
            return try await blocking { [self] in
                let (store, configuration) = try runs.open(name)
                let records = try store.candidates()
                return try json(RunDetail(summary: summary(name, records, configuration),
                                          status: RunStatus(records: records, name: name, configuration: configuration,
                                                            remeasured: try store.remeasuredCandidates(purpose: nil))))
            }
        }
        router.get("runs/:run/candidates") { request, context in
            let name = try runName(context)
            let query = try CandidateQuery(request.uri.queryParameters)
            return try await blocking { [self] in
                let (store, configuration) = try runs.open(name)
                let all = try RunStatus(store, name: name, configuration: configuration).candidates
                let matching = all.filter { ($0.status == query.status || query.status == nil) && $0.index > query.after }
                let page = Array(matching.prefix(query.limit))
                return try json(CandidatePage(candidates: page,
                                              nextAfter: matching.count > page.count ? page.last?.index : nil))
            }
        }
        router.get("runs/:run/pareto") { _, context in
            let name = try runName(context)
            return try await blocking { [self] in
                let (store, configuration) = try runs.open(name)
                let status = try RunStatus(store, name: name, configuration: configuration)
                let byIndex = Dictionary(status.candidates.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
                return try json(Front(run: name.text, front: status.pareto.compactMap { byIndex[$0] }))
            }
        }
        router.post("runs/:run/stop") { _, context in
            let name = try runName(context)
            return try await blocking { [self] in
                _ = try runs.open(name)
                let was = try scheduler.stop(name)
                return try json(StateChange(run: name.text, state: was == .queued ? "idle" : "stopping"), status: .accepted)
            }
        }
        router.post("runs/:run/resume") { _, context in
            let name = try runName(context)
            return try await blocking { [self] in
                try scheduler.resume(name)
                return try json(StateChange(run: name.text, state: scheduler.state(name)?.rawValue ?? "queued"), status: .accepted)
            }
        }
        router.post("runs/:run/exports") { request, context in
            let name = try runName(context)
            let data = try await body(of: request)
            let export = try ExportBody(json: data).request
            let job = try await blocking { [exports] in try exports.submit(name, body: data, request: export) }
            return try json(ExportView(job: job, progress: nil, models: []), status: .accepted,
                            headers: [.location: "/runs/\(name)/exports/\(job.id)"])
        }
        router.get("runs/:run/exports/:id") { _, context in
            let name = try runName(context)
            guard let id = context.parameters.get("id").flatMap(Int.init) else {
                throw InvalidField(field: "id", message: "an export id is a whole number, as POST /runs/\(name)/exports returned")
            }
            return try await blocking { [exports] in
                let (job, progress, models) = try exports.status(name, id)
                return try json(ExportView(job: job, progress: progress, models: models))
            }
        }
        router.get("runs/:run/events") { request, context in
            let name = try runName(context)
            return try await EventStream(name: name, request: request, runs: runs, scheduler: scheduler,
                                         lifecycle: lifecycle).response()
        }
    }

    // MARK: Views

    struct Health: Encodable { let status: String; let queued, active: Int }

    struct RunList: Encodable { let runs: [ServedRun] }

    struct RunDetail: Encodable {
        let summary: ServedRun
        let status: RunStatus

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(status, forKey: .status)
        }

        enum Key: String, CodingKey { case status }
    }

    struct CandidatePage: Encodable {
        let candidates: [RunStatus.Candidate]
        let nextAfter: Int?

        enum CodingKeys: String, CodingKey { case candidates, nextAfter = "next_after" }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(candidates, forKey: .candidates)
            try container.encode(nextAfter, forKey: .nextAfter)  // null on the last page, not absent
        }
    }

    struct Front: Encodable { let run: String; let front: [RunStatus.Candidate] }

    struct StateChange: Encodable { let run, state: String }

    /// An export job: its record, what it is doing now, the models written so far.
    struct ExportView: Encodable {
        let job: ExportJobs.Job
        let progress: ExportProgress?
        let models: [ExportedModel]

        func encode(to encoder: any Encoder) throws {
            try job.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(progress, forKey: .progress)
            try container.encode(models, forKey: .models)
        }

        enum Key: String, CodingKey { case progress, models }
    }

    /// A run's state as the daemon sees it: queued, active or stopping while
    /// it owns the run's work; otherwise finished (budget spent), failed (the
    /// daemon's last drive of it ended in an error) or idle.
    func summary(_ name: RunName) throws -> ServedRun {
        let (store, configuration) = try runs.open(name)
        return summary(name, try store.candidates(), configuration)
    }

    /// The same from the run's candidates when the caller has read them already.
    func summary(_ name: RunName, _ records: [CandidateRecord], _ configuration: SearchConfiguration) -> ServedRun {
        let done = records.filter { $0.status == .done || $0.status == .failed }.count
        let failure = scheduler.failure(name)
        let state = scheduler.state(name)?.rawValue
            ?? (done >= configuration.budget ? "finished" : failure != nil ? "failed" : "idle")
        return ServedRun(name: name.text, state: state, strategy: configuration.strategy.rawValue, done: done,
                          budget: configuration.budget, seed: configuration.seed,
                          bestReward: records.compactMap(\.reward).max(), failure: failure)
    }
}

/// `?status=&after=&limit=` of the candidates route.
struct CandidateQuery {
    let status: String?
    let after: Int
    let limit: Int

    static let limits = 1...1000

    init(_ query: Parameters) throws {
        status = query.get("status")
        let statuses = ["queued", "training", "done", "failed"]
        if let status, !statuses.contains(status) {
            throw InvalidField(field: "status", message: "status '\(status)' is not one of \(statuses.joined(separator: ", "))")
        }
        after = try Self.integer(query, "after", default: -1, range: -1...Int.max)
        limit = try Self.integer(query, "limit", default: 100, range: Self.limits)
    }

    private static func integer(_ query: Parameters, _ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = query.get(key) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw InvalidField(field: key, message: "\(key) is '\(text)'; give a whole number in \(range.lowerBound)...\(range.upperBound == Int.max ? "" : "\(range.upperBound)")")
        }
        return number
    }
}

/// The run named in the path; names the CLI would refuse are refused here too.
func runName(_ context: BasicRequestContext) throws -> RunName {
    try RunName(existing: context.parameters.get("run") ?? "")
}

/// The request's JSON body, refused when it is not JSON (415) or over the limit (413).
func body(of request: Request) async throws -> Data {
    let type = request.headers[.contentType]
    guard let type, type.lowercased().hasPrefix("application/json") else { throw DaemonError.unsupportedMediaType(type) }
    let buffer: ByteBuffer
    do { buffer = try await request.body.collect(upTo: Routes.bodyLimit) } catch {
        throw DaemonError.bodyTooLarge(limit: Routes.bodyLimit)
    }
    return Data(buffer.readableBytesView)
}

/// A value as a JSON response (keys sorted, so clients and tests see stable bytes).
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var fields = headers
    fields[.contentType] = "application/json"
    return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}

/// Runs `body` on a serving thread (`ServingPool`): disk reads, SQLite,
/// loading a run's engines block, and the event loops must not.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        ServingPool.shared.run { continuation.resume(with: Result { try body() }) }
    }
}
