import Core
import Foundation
import Hummingbird
import Mustache
import RunStore
import Runs
import Search

/// The web dashboard: `/` lists the runs, `/ui/runs/{run}` shows one live
/// (its event stream), `/login` takes the token once and keeps it in an
/// HttpOnly, SameSite=Strict cookie. Pages read the same views as the API.
struct Dashboard: Sendable {
    let routes: Routes
    let token: String?

    static let cookie = "nasd_token"

    private static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [("layout", DashboardPages.layout), ("runs", DashboardPages.runs), ("run", DashboardPages.run),
                             ("login", DashboardPages.login)] {
            // The templates are constants of this build; a test renders each.
            library.register(try! MustacheTemplate(string: text), named: name)
        }
        return library
    }()

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in
            try await blocking { [routes] in
                let summaries = try routes.folder.storedNames().compactMap { try? routes.summary($0) }
                let (queued, active) = routes.scheduler.counts
                let rows: [[String: Any]] = summaries.map { s in
                    ["name": s.name, "state": s.state, "strategy": s.strategy, "seed": s.seed, "done": s.done,
                     "budget": s.budget, "bestReward": s.bestReward.map { String(format: "%.4f", $0) } ?? "–"]
                }
                return Self.page("runs", title: "runs", subtitle: nil,
                                 ["runs": rows, "count": rows.count, "folder": routes.folder.path, "queued": queued, "active": active])
            }
        }
        router.get("ui/runs/:run") { _, context in
            let name = try runName(context)
            return try await blocking { [routes] in
                let (store, configuration) = try routes.runs.open(name)
                // One read of the candidates for the summary, the tables and the plot.
                let records = try store.candidates()
                let summary = routes.summary(name, records, configuration)
                let status = RunStatus(records: records, name: name, configuration: configuration)
                let byIndex = Dictionary(status.candidates.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
                let nameJSON = String(decoding: try JSONEncoder().encode(name.text), as: UTF8.self)
                let events = try store.events()
                let time = ISO8601DateFormatter()
                var values: [String: Any] = [
                    "state": summary.state, "done": summary.done, "budget": summary.budget, "strategy": summary.strategy,
                    "seed": summary.seed,
                    "front": status.pareto.compactMap { byIndex[$0] }.map(Self.row),
                    "candidates": status.candidates.filter { $0.status == "done" || $0.status == "failed" }.map(Self.row),
                    // The stream starts after what the page shows, so no candidate appears twice.
                    "lastEventID": events.last?.id ?? 0,
                    "plot": RunPlot.svg(run: name.text, records: records, configuration: configuration),
                    "log": events.suffix(200).map { e -> [String: Any] in
                        ["id": e.id, "at": time.string(from: e.at), "kind": e.kind,
                         "message": e.kind.hasPrefix("candidate-") ? Self.commitText(e.message) : e.message]
                    },
                    // Escaped for a script: JSON, with "<" so that no name can close the script element.
                    "runJSON": nameJSON.replacingOccurrences(of: "<", with: "\\u003c"),
                ]
                // Absent rather than empty: Mustache renders a section for an empty string.
                if let failure = summary.failure { values["failure"] = failure }
                return Self.page("run", title: name.text, subtitle: name.text, values)
            }
        }
        router.get("ui/runs/:run/pareto.svg") { _, context in
            let name = try runName(context)
            return try await blocking { [routes] in
                let (store, configuration) = try routes.runs.open(name)
                let svg = RunPlot.svg(run: name.text, records: try store.candidates(), configuration: configuration)
                return Response(status: .ok, headers: [.contentType: "image/svg+xml"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: svg)))
            }
        }
        router.get("login") { _, _ in Self.page("login", title: "sign in", subtitle: "sign in", [:]) }
        router.post("login") { request, _ in
            let buffer = try await request.body.collect(upTo: Routes.bodyLimit)
            let form = String(decoding: buffer.readableBytesView, as: UTF8.self)
            let given = form.split(separator: "&").compactMap { pair -> String? in
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "token" else { return nil }
                return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }.first ?? ""
            // A daemon without a token has nothing to sign in to: on to the dashboard.
            guard let token else { return Response(status: .seeOther, headers: [.location: "/"]) }
            guard TokenCheck.matches(given, token) else {
                var page = Self.page("login", title: "sign in", subtitle: "sign in", ["error": "That is not this daemon's token."])
                page.status = .unauthorized
                return page
            }
            return Response(status: .seeOther, headers: [
                .location: "/",
                .setCookie: "\(Self.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict",
            ])
        }
    }

    /// A commit event's line in the log: "candidate 3 done".
    private static func commitText(_ message: String) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(message.utf8))) as? [String: Any]
        let candidate = object?["candidate"] as? [String: Any]
        return "candidate \(candidate?["index"] as? Int ?? -1) \(candidate?["status"] as? String ?? "")"
    }

    private static func row(_ c: RunStatus.Candidate) -> [String: Any] {
        ["index": c.index, "status": c.status, "arch": c.arch, "params": c.params,
         "accuracy": c.valAccuracy.map { String(format: "%.4f", $0) } ?? "–",
         "cpu": c.latencyMs["cpu"].map { String(format: "%.4f", $0) } ?? "–",
         "reward": c.reward.map { String(format: "%.4f", $0) } ?? "–"]
    }

    static func page(_ template: String, title: String, subtitle: String?, _ values: [String: Any]) -> Response {
        let content = library.render(values, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "content": content]
        if let subtitle { layout["subtitle"] = subtitle }
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The token comparison, in constant time (the time taken says nothing of
/// how much of a guess was right).
enum TokenCheck {
    static func matches(_ given: String, _ token: String) -> Bool {
        let a = Array(given.utf8), b = Array(token.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<b.count { difference |= b[i] ^ (i < a.count ? a[i] : 0) }
        return difference == 0
    }
}
