import Core
import Foundation
import Runs

/// `POST /runs/{run}/exports`: `nas export` as a job. Jobs run one at a time
/// on a thread of their own (an export trains: it is as heavy as a search's
/// candidate). Each lives in `<run>/exports/<id>/`: its record `job.json`
/// (rewritten atomically at each change) beside the models, which
/// `RunExporter` writes whole or not at all. A daemon stopped or killed
/// mid-export runs the job again when it starts, keeping its finished models.
final class ExportJobs: @unchecked Sendable {
    struct Job: Codable, Sendable {
        var id: Int
        var run: String
        /// queued, running, done or failed.
        var state: String
        /// The request's body as given: what the job runs again after a restart.
        var request: String
        var createdAt: Date
        var finishedAt: Date?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case id, run, state, request, error
            case createdAt = "created_at", finishedAt = "finished_at"
        }
    }

    let folder: RunsFolder
    private let lock = NSLock()
    private let wake = NSCondition()
    private var queue: [(run: RunName, id: Int)] = []
    private var progress: [String: ExportProgress] = [:]
    private var stopping = false
    /// Signalled when the export thread has left: a process must not exit
    /// while a job trains (oneDNN's and OpenMP's teardown under a running
    /// primitive crashes it).
    private let left = DispatchSemaphore(value: 0)
    private var started = false

    /// Thrown from the exporter's progress callback when the daemon stops.
    private struct Stopped: Error {}

    init(folder: RunsFolder) { self.folder = folder }

    /// Takes up jobs left queued or running, then starts the export thread.
    func start() {
        for name in (try? folder.storedNames()) ?? [] {
            guard let folderPath = try? exportsFolder(name),
                  let entries = try? FileManager.default.contentsOfDirectory(atPath: folderPath) else { continue }
            for id in entries.compactMap(Int.init).sorted() {
                if let job = try? read(name, id), job.state == "queued" || job.state == "running" { queue.append((name, id)) }
            }
        }
        lock.withLock { started = true }
        let thread = Thread { [self] in
            ServingPriority.trainCurrentThread()
            work()
            left.signal()
        }
        thread.name = "nasd-exports"
        thread.start()
    }

    /// Asks the running job to stop at its next step (it is queued again, its finished models kept) and the thread to leave.
    func stop() {
        lock.withLock { stopping = true }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Waits for the export thread to leave after `stop()`, until `deadline`.
    func waitStopped(until deadline: Date) {
        guard lock.withLock({ started }) else { return }
        _ = left.wait(timeout: .now() + max(0, deadline.timeIntervalSinceNow))
    }

    /// Records a new job (checked first: the run, the selection, the options) and queues it.
    func submit(_ name: RunName, body: Data, request: ExportRequest) throws -> Job {
        let options = try request.options(.json)
        // The run and the selection are checked now, so a job that cannot start is refused, not queued.
        _ = try RunExporter(folder: folder, name: name, out: NSTemporaryDirectory(), options: options, command: "")
        let job = try lock.withLock { () throws -> Job in
            let exports = try exportsFolder(name)
            try FileManager.default.createDirectory(atPath: exports, withIntermediateDirectories: true)
            let taken = ((try? FileManager.default.contentsOfDirectory(atPath: exports)) ?? []).compactMap(Int.init)
            let job = Job(id: (taken.max() ?? 0) + 1, run: name.text, state: "queued",
                          request: String(decoding: body, as: UTF8.self), createdAt: Date())
            try FileManager.default.createDirectory(atPath: exports + "/\(job.id)", withIntermediateDirectories: true)
            try write(job)
            queue.append((name, job.id))
            return job
        }
        wake.lock()
        wake.broadcast()
        wake.unlock()
        return job
    }

    /// A job's record, its live progress, and the models it has written.
    func status(_ name: RunName, _ id: Int) throws -> (job: Job, progress: ExportProgress?, models: [ExportedModel]) {
        let job = try read(name, id)
        let out = try exportsFolder(name) + "/\(id)"
        let models = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).sorted().compactMap { entry in
            FileManager.default.contents(atPath: out + "/" + entry + "/model.json")
                .flatMap { try? JSONDecoder().decode(ExportedModel.self, from: $0) }
        }
        return (job, lock.withLock { progress["\(name)/\(id)"] }, models)
    }

    private func exportsFolder(_ name: RunName) throws -> String { try folder.directory(name) + "/exports" }

    private func read(_ name: RunName, _ id: Int) throws -> Job {
        let path = try exportsFolder(name) + "/\(id)/job.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NasError.notFound("run \(name) has no export \(id); POST /runs/\(name)/exports starts one")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(Job.self, from: data) } catch {
            throw NasError.damaged("\(path) cannot be read (\(error)); remove the export's folder and start it again")
        }
    }

    private func write(_ job: Job) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .iso8601
        let path = try exportsFolder(try RunName(existing: job.run)) + "/\(job.id)/job.json"
        try encoder.encode(job).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private func work() {
        while let (name, id) = next() {
            guard var job = try? read(name, id) else { continue }
            job.state = "running"
            try? write(job)
            do {
                let request = try ExportBody(json: Data(job.request.utf8)).request
                let exporter = try RunExporter(folder: folder, name: name, out: try exportsFolder(name) + "/\(id)",
                                               options: try request.options(.json),
                                               command: "POST /runs/\(name)/exports \(job.request)")
                try exporter.run { [self] event in
                    try lock.withLock {
                        if stopping { throw Stopped() }
                        progress["\(name)/\(id)"] = ExportProgress(fraction: event.fraction, detail: event.detail)
                    }
                }
                job.state = "done"
            } catch is Stopped {
                // Taken up again at the next start; the models finished so far are kept.
                job.state = "queued"
                try? write(job)
                lock.withLock { progress["\(name)/\(id)"] = nil }
                return
            } catch {
                job.state = "failed"
                job.error = "\(error)"
            }
            job.finishedAt = Date()
            try? write(job)
            lock.withLock { progress["\(name)/\(id)"] = nil }
        }
    }

    private func next() -> (RunName, Int)? {
        wake.lock()
        defer { wake.unlock() }
        while true {
            let taken: (RunName, Int)?? = lock.withLock {
                if stopping { return .some(nil) }
                return queue.isEmpty ? nil : .some(queue.removeFirst())
            }
            if let taken { return taken }
            wake.wait()
        }
    }
}

/// `POST /runs/{run}/exports`'s body: `nas export`'s options in JSON.
struct ExportBody {
    let request: ExportRequest

    private struct Fields: Decodable, KnownFields {
        var pareto: Bool?
        var top, epochs, subset, threads, launches: Int?
        var arch, formats, weights: [String]?
        static let names = ["pareto", "top", "arch", "formats", "weights", "epochs", "subset", "threads", "launches"]
    }

    init(json data: Data) throws {
        let body = try JSONBody.decode(Fields.self, from: data, of: "an export", example: #"{"top": 3, "epochs": 5}"#,
                                       types: ["pareto": "true or false", "top": "a whole number from 1",
                                               "epochs": "a whole number from 1", "subset": "a whole number from 1",
                                               "threads": "a whole number from 1", "launches": "a whole number from 1",
                                               "arch": "a list of candidate hashes", "formats": "a list such as [\"onnx\", \"ncnn\"]",
                                               "weights": "a list such as [\"fp32\", \"fp16\"]"])
        var request = ExportRequest()
        request.pareto = body.pareto ?? false
        request.top = body.top
        request.hashes = body.arch ?? []
        if let v = body.formats { request.formats = v }
        if let v = body.weights { request.weights = v }
        if let v = body.epochs { request.epochs = v }
        request.subset = body.subset
        if let v = body.threads { request.threads = v }
        if let v = body.launches { request.launches = v }
        self.request = request
    }
}
