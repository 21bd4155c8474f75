import Core
import Foundation
import Hummingbird
import RunStore
import Runs

/// `GET /runs/{run}/events`: server-sent events. The run's event log comes
/// first, each event with its log id (`id:`), so a client that reconnects
/// with `Last-Event-ID` (or `?after=`) gets exactly what it missed: every
/// committed candidate is in the log, written in the commit's transaction.
/// Between commits, the candidate in progress and its training steps come as
/// events without ids (`candidate-started`, `progress`): only the latest
/// matters, and a reconnecting client gets the next one. With `?follow=false`
/// the stream ends after the log; otherwise it follows until the client
/// leaves or the daemon stops, with a comment every 15 s to keep proxies open.
struct EventStream: Sendable {
    let name: RunName
    let after: Int
    let follow: Bool
    let runs: OpenRuns
    let scheduler: RunScheduler
    let lifecycle: Lifecycle

    static let poll: Duration = .milliseconds(200)
    static let keepAlive = 15.0

    init(name: RunName, request: Request, runs: OpenRuns, scheduler: RunScheduler, lifecycle: Lifecycle) throws {
        self.name = name
        let query = request.uri.queryParameters
        let resumeFrom = request.headers[.init("Last-Event-ID")!] ?? query.get("after")
        guard let after = resumeFrom.map({ Int($0) }) ?? 0, after >= 0 else {
            throw InvalidField(field: "Last-Event-ID", message: "Last-Event-ID or ?after= is '\(resumeFrom ?? "")'; give the id of the last event received (a whole number)")
        }
        self.after = after
        switch query.get("follow") {
        case nil, "true"?: follow = true
        case "false"?: follow = false
        case let other?: throw InvalidField(field: "follow", message: "follow is '\(other)'; give true or false")
        }
        self.runs = runs
        self.scheduler = scheduler
        self.lifecycle = lifecycle
    }

    func response() async throws -> Response {
        let store = try await blocking { [runs, name] in try StoreBox(runs.open(name).store) }
        let stream = self
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: ResponseBody { writer in
            var last = stream.after
            var liveSequence = 0
            var quietSince = Date()
            while true {
                let from = last
                let events = try await blocking { try store.store.events(after: from) }
                var text = ""
                for event in events {
                    text += Self.format(id: event.id, kind: event.kind, data: Self.data(of: event))
                    last = event.id
                }
                if stream.follow, let live = stream.scheduler.live(stream.name), live.sequence != liveSequence {
                    liveSequence = live.sequence
                    text += Self.format(id: nil, kind: live.kind, data: live.json)
                }
                if text.isEmpty, Date().timeIntervalSince(quietSince) > Self.keepAlive { text = ": keep-alive\n\n" }
                if !text.isEmpty {
                    try await writer.write(ByteBuffer(string: text))
                    quietSince = Date()
                }
                if !stream.follow || stream.lifecycle.isStopping { break }
                try await Task.sleep(for: Self.poll)
            }
            try await writer.finish(nil)
        })
    }

    /// One event in the text/event-stream format (data on one line: JSON has no raw newlines).
    static func format(id: Int?, kind: String, data: String) -> String {
        (id.map { "id: \($0)\n" } ?? "") + "event: \(kind)\ndata: \(data)\n\n"
    }

    /// A commit's event carries the candidate as JSON; the run's other events a message.
    static func data(of event: RunEvent) -> String {
        if event.kind.hasPrefix("candidate-") { return event.message }
        let object: [String: Any] = ["message": event.message, "at": timestamp(event.at)]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// An event's time: ISO 8601 with milliseconds (a training step lasts a
/// few). One value-type format style, shared, for writing and reading it:
/// no formatter object built per event.
let eventTime = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

func timestamp(_ date: Date) -> String { eventTime.format(date) }

/// A run's store handed to the stream's polling; the SQLite store serialises
/// its own access (GRDB's pool), and the stream reads one poll at a time.
final class StoreBox: @unchecked Sendable {
    let store: any RunStore
    init(_ store: any RunStore) { self.store = store }
}
