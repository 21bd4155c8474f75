import Foundation
import Testing
import Yams

/// `nas serve` as a user runs it: a real daemon process on a real socket,
/// real runs trained on the tiny space, SIGTERM and kill -9. In the
/// serialized search suite: it trains.
extension NasSearchCLITests {
    /// A running `nas serve` and the line it printed when ready.
    final class Daemon {
        let process: Process
        let client: HTTPClient

        init(runs: String, arguments: [String] = ["--listen", "127.0.0.1:0"], token: String? = nil,
             environment: [String: String]? = nil) throws {
            process = Process()
            process.executableURL = NasProcess.locate()
            process.arguments = ["serve", "--runs", runs] + arguments
            process.currentDirectoryURL = NasProcess.root
            if let environment { process.environment = environment }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The first line says where it listens; read byte by byte so nothing after it is swallowed.
            var line = Data()
            while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
                line.append(byte)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("nasd listening on ") else { throw DaemonStartError(text: text) }
            client = HTTPClient(listening: text, token: token)
        }

        /// SIGTERM, then the exit status and the seconds it took.
        func terminate() -> (status: Int32, seconds: Double) {
            let start = Date()
            process.terminate()
            process.waitUntilExit()
            return (process.terminationStatus, Date().timeIntervalSince(start))
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// Polls the run until `condition` holds on its summary (at most `timeout` seconds).
        func wait(for run: String, timeout: Double = 120, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let summary = try client.get("/runs/\(run)").json()
                if condition(summary) || Date() > deadline { return summary }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    struct DaemonStartError: Error { let text: String }

    static let tinyRequest = #"{"space": "tiny", "strategy": "evolution", "budget": 8, "seed": 2, "threads": 2, "run": "d"}"#

    @Test("nas serve: a run started over HTTP trains, streams its events from the log with resumable ids, pages its candidates; bad requests get the right status and field; SIGTERM exits 0 quickly")
    func serve() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let daemon = try Daemon(runs: runs)
        let client = daemon.client

        #expect(try client.get("/healthz").json()["status"] as? String == "ok")
        let document = try client.get("/openapi.yaml")
        #expect(document.status == 200)
        #expect(document.text + "\n" == (try String(contentsOf: NasProcess.root.appendingPathComponent("Sources/Daemon/openapi.yaml"), encoding: .utf8)))

        // Refusals: each with its status, code and field, and no run made by any of them.
        let refusals: [(reply: HTTPClient.Reply, status: Int, field: String?)] = [
            (try client.post("/runs", json: #"{"space": "tiny"}"#, contentType: "text/plain"), 415, nil),
            (try client.post("/runs", json: "[1, 2]"), 422, nil),
            (try client.post("/runs", json: "{not json"), 422, nil),
            (try client.post("/runs", json: #"{"space": "tiny", "budgt": 3}"#), 400, "budgt"),
            (try client.post("/runs", json: #"{"space": "tiny", "budget": 0}"#), 400, "budget"),
            (try client.post("/runs", json: #"{"space": "tiny", "budget": 2.5}"#), 400, "budget"),
            (try client.post("/runs", json: #"{"space": "tiny", "strategy": "genetic"}"#), 400, "strategy"),
            (try client.post("/runs", json: #"{"space": "../../etc/passwd"}"#), 400, "space"),
            (try client.post("/runs", json: #"{"space_yaml": "name: [unclosed"}"#), 400, "space"),
            (try client.post("/runs", json: #"{"space": "tiny", "run": "../escape"}"#), 400, "run"),
            (try client.post("/runs", json: #"{"space": "tiny", "engine": "vulkan"}"#), 400, "target_ms"),
            (try client.post("/runs", json: "{\"space_yaml\": \"" + String(repeating: "x", count: 70_000) + "\"}"), 413, nil),
            (try client.get("/runs/nothing-here"), 404, nil),
            (try client.get("/no/such/route"), 404, nil),
        ]
        for (reply, status, field) in refusals {
            #expect(reply.status == status, "\(reply.text)")
            #expect(reply.error.field == field, "\(reply.text)")
            #expect((reply.error.code ?? "").isEmpty == false)
        }
        #expect((try client.get("/runs").json()["runs"] as? [Any])?.isEmpty == true)

        let created = try client.post("/runs", json: Self.tinyRequest)
        #expect(created.status == 201, "\(created.text)")
        #expect(created.headers["location"] == "/runs/d")
        #expect(try client.post("/runs", json: Self.tinyRequest).status == 409)
        #expect(try client.get("/runs/d/candidates?limit=0").error.field == "limit")
        let finished = try daemon.wait(for: "d") { $0["state"] as? String == "finished" }
        #expect(finished["done"] as? Int == 8)

        // The event log: created, one commit event per candidate (ids rising), finished.
        let stream = try client.get("/runs/d/events?follow=false")
        #expect(stream.headers["content-type"] == "text/event-stream")
        let events = Self.events(stream.text)
        #expect(events.first?.kind == "created")
        #expect(events.filter { $0.kind == "candidate-done" }.count == 8)
        #expect(events.last?.kind == "finished")
        let ids = events.compactMap(\.id)
        #expect(ids == ids.sorted() && Set(ids).count == ids.count && ids.count == events.count)
        let fourth = events.filter { $0.kind == "candidate-done" }[3]
        let resumed = Self.events(try client.get("/runs/d/events?follow=false", headers: ["Last-Event-ID": "\(fourth.id!)"]).text)
        #expect(resumed.map(\.id) == events.map(\.id).filter { $0! > fourth.id! })
        #expect(try client.get("/runs/d/events?follow=false", headers: ["Last-Event-ID": "x"]).status == 400)

        // Pages of candidates walk the run once, in index order.
        var seen: [Int] = [], after = -1
        while true {
            let page = try client.get("/runs/d/candidates?limit=3&after=\(after)").json()
            seen += (page["candidates"] as! [[String: Any]]).map { $0["index"] as! Int }
            guard let next = page["next_after"] as? Int else { break }
            after = next
        }
        #expect(seen == Array(0..<8))
        let front = try client.get("/runs/d/pareto").json()["front"] as! [[String: Any]]
        #expect(!front.isEmpty)
        // Metrics count what happened: the run's candidates, the refusals by route and status.
        let metrics = try client.get("/metrics").text
        #expect(metrics.contains(#"nasd_candidates_finished_total{run="d"} 8"#), "\(metrics)")
        #expect(metrics.contains("nasd_queue_length 0"))
        #expect(metrics.contains("nasd_evaluation_seconds_count"))
        #expect(metrics.contains(#"nasd_http_requests_total{route="/runs",method="POST",status="400"}"#), "\(metrics)")
        #expect(metrics.contains(#"nasd_training_images_per_second{run="d"}"#))

        // Headless Chromium, as a user's browser loads it: the run page's DOM holds the candidates and the plot.
        let chromium = Process()
        chromium.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        guard case let .tcp(port) = client.address else { Issue.record("not on TCP"); return }
        chromium.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--timeout=8000",
                              "--dump-dom", "http://127.0.0.1:\(port)/ui/runs/d"]
        let dom = Pipe()
        chromium.standardOutput = dom
        chromium.standardError = FileHandle.nullDevice
        try chromium.run()
        let page = String(decoding: dom.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        chromium.waitUntilExit()
        #expect(page.contains("<svg"), "\(page.prefix(2000))")
        let table = page.components(separatedBy: #"<table id="candidates">"#).last ?? ""
        #expect(table.components(separatedBy: "</table>")[0].components(separatedBy: "<tr>").count - 2 == 8)

        // Exports: a refused body names its field; a real export of the best model runs as a job.
        #expect(try client.post("/runs/d/exports", json: #"{"weights": ["fp8"]}"#).error.field == "weights")
        #expect(try client.post("/runs/d/exports", json: #"{"top": 1, "arch": ["abc"]}"#).error.field == "top")
        #expect(try client.post("/runs/d/exports", json: #"{"epoch": 1}"#).error.field == "epoch")
        #expect(try client.post("/runs/d/exports", json: #"{"epochs": "one"}"#).error.field == "epochs")
        #expect(try client.post("/runs/d/exports", json: #"{"arch": ["000000000000"]}"#).status == 404)
        #expect(try client.post("/runs/nothing/exports", json: "{}").status == 404)
        let export = try client.post("/runs/d/exports", json: #"{"top": 1, "epochs": 1, "subset": 512, "formats": ["onnx"], "launches": 1, "threads": 2}"#)
        #expect(export.status == 202, "\(export.text)")
        let id = try #require(try export.json()["id"] as? Int)
        var job: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(300)
        repeat {
            Thread.sleep(forTimeInterval: 0.5)
            job = try client.get("/runs/d/exports/\(id)").json()
        } while !["done", "failed"].contains(job["state"] as? String ?? "") && Date() < deadline
        #expect(job["state"] as? String == "done", "\(job)")
        let models = job["models"] as? [[String: Any]] ?? []
        #expect(models.count == 1)
        if let hash = models.first?["hash"] as? String {
            #expect(FileManager.default.fileExists(atPath: runs + "/d/exports/\(id)/\(hash)/model.onnx"))
        }
        #expect(try client.get("/runs/d/exports/99").status == 404)
        #expect(try client.get("/runs/d/exports/x").error.field == "id")

        // A run that cannot be read is listed as damaged; the others still are listed.
        try FileManager.default.createDirectory(atPath: runs + "/broken", withIntermediateDirectories: true)
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: runs + "/broken/run.sqlite"))
        let listed = try client.get("/runs").json()["runs"] as! [[String: Any]]
        #expect(listed.first { $0["name"] as? String == "broken" }?["state"] as? String == "damaged")
        #expect(listed.first { $0["name"] as? String == "d" }?["state"] as? String == "finished")
        #expect(try client.post("/runs/d/stop").status == 409)
        #expect(try client.post("/runs/d/resume").status == 409)

        // A second daemon on the same runs directory is refused, naming the first.
        let second = try NasProcess.run(["serve", "--runs", runs, "--listen", "127.0.0.1:0"])
        #expect(second.status == 2)
        #expect(second.stderr.contains("pid \(daemon.process.processIdentifier)"))

        let (status, seconds) = daemon.terminate()
        #expect(status == 0)
        #expect(seconds < 10)
    }

    @Test("nas serve: SIGTERM mid-run and kill -9 mid-run; each new daemon resumes the run by itself, and it ends with the candidates of nas search with the same options")
    func serveResumesExactly() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let whole = try NasProcess.json(["search", "--space", "SearchSpaces/tiny.yaml", "--strategy", "evolution", "--budget", "8",
                                         "--seed", "2", "--threads", "2", "--runs", runs, "--run", "whole", "--json"])

        var daemon = try Daemon(runs: runs)
        #expect(try daemon.client.post("/runs", json: Self.tinyRequest).status == 201)
        _ = try daemon.wait(for: "d") { ($0["done"] as? Int ?? 0) >= 2 }
        let (status, seconds) = daemon.terminate()
        #expect(status == 0)
        #expect(seconds < 10)

        daemon = try Daemon(runs: runs)
        #expect(try daemon.client.get("/runs/d").json()["state"] as? String == "active")
        _ = try daemon.wait(for: "d") { ($0["done"] as? Int ?? 0) >= 5 }
        daemon.kill9()

        daemon = try Daemon(runs: runs)
        let finished = try daemon.wait(for: "d") { $0["state"] as? String == "finished" }
        #expect(finished["done"] as? Int == 8)
        let served = try daemon.client.get("/runs/d").json()["status"] as Any
        #expect(Self.candidates(served) == Self.candidates(whole))
        #expect(daemon.terminate().status == 0)
    }

    @Test("nas serve: the default Unix socket is mode 0600; beyond loopback a token is required, checked on every request")
    func serveAccess() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let local = try Daemon(runs: runs, arguments: [])
        let socket = runs + "/nasd.sock"
        let mode = (try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int) ?? 0
        #expect(mode & 0o777 == 0o600)
        #expect(try local.client.get("/healthz").status == 200)
        #expect(local.terminate().status == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))

        let open = try NasProcess.run(["serve", "--runs", runs, "--listen", "0.0.0.0:0"])
        #expect(open.status == 2)
        #expect(open.stderr.contains("--token-file"))
        let short = runs + "/short-token"
        try "abc".write(toFile: short, atomically: true, encoding: .utf8)
        #expect(try NasProcess.run(["serve", "--runs", runs, "--listen", "0.0.0.0:0", "--token-file", short]).status == 2)

        let token = "0123456789abcdef0123456789abcdef"
        let file = runs + "/token"
        try (token + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let guarded = try Daemon(runs: runs, arguments: ["--listen", "0.0.0.0:0", "--token-file", file], token: token)
        #expect(try guarded.client.get("/runs").status == 200)
        var anonymous = guarded.client
        anonymous.token = nil
        #expect(try anonymous.get("/runs").status == 401)
        anonymous.token = String(token.dropLast()) + "0"
        #expect(try anonymous.get("/runs").error.code == "unauthorized")
        #expect(guarded.terminate().status == 0)
    }

    @Test("nas serve: the dashboard in a real browser (Chromium through Selenium): sign in, the run listed, live progress and candidates from the event stream, stopped with its button")
    func serveDashboard() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let token = "dashboard-test-token-0123456789"
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        try token.write(toFile: runs + "/token", atomically: true, encoding: .utf8)
        let daemon = try Daemon(runs: runs, arguments: ["--listen", "127.0.0.1:0", "--token-file", runs + "/token"], token: token)
        let long = #"{"space": "tiny", "strategy": "random", "budget": 60, "seed": 9, "threads": 2, "parallel": 1, "run": "live"}"#
        #expect(try daemon.client.post("/runs", json: long).status == 201)
        _ = try daemon.wait(for: "live") { ($0["done"] as? Int ?? 0) >= 1 }
        guard case let .tcp(port) = daemon.client.address else { Issue.record("not on TCP"); return }
        let check = Process()
        check.executableURL = NasProcess.root.appendingPathComponent(".build/venv/bin/python")
        let screenshot = runs + "/dashboard.png"
        check.arguments = [NasProcess.root.appendingPathComponent("scripts/dashboard_check.py").path,
                           "--url", "http://127.0.0.1:\(port)", "--token", token, "--run", "live", "--screenshot", screenshot]
        let out = Pipe()
        check.standardOutput = out
        check.standardError = FileHandle.nullDevice
        try check.run()
        let report = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "\(report)")
        let seen = try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any] ?? [:]
        #expect(seen["listed_state"] as? String == "active")
        #expect(seen["cookie_http_only"] as? Bool == true)
        #expect(seen["state_final"] as? String == "idle")
        #expect((seen["epoch_bar"] as? Double ?? 0) > 0)
        #expect((seen["export_message"] as? String ?? "").contains("export 1 queued"))
        // The stop the button asked for is the run's: it stopped short of its budget, and resumes.
        let after = try daemon.client.get("/runs/live").json()
        #expect(after["state"] as? String == "idle")
        #expect((after["done"] as? Int ?? 60) < 60)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000)
        // SIGTERM while the export the button queued trains: it stops at a step, the daemon exits 0, and the job waits for the next start.
        #expect(daemon.terminate().status == 0)
        let job = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runs + "/live/exports/1/job.json"))) as? [String: Any]
        #expect(["queued", "done"].contains(job?["state"] as? String ?? ""), "\(job ?? [:])")
    }

    @Test("With nas serve owning the runs directory, nas search, stop, resume, watch, runs, status and export go through it, with the results of the in-process commands")
    func serveClient() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let options = ["--space", "SearchSpaces/tiny.yaml", "--strategy", "evolution", "--seed", "2", "--threads", "2", "--runs", runs]
        let whole = try NasProcess.json(["search"] + options + ["--budget", "8", "--run", "whole", "--json"])
        #expect(try NasProcess.run(["stop", "whole", "--runs", runs]).status == 2)  // no daemon: nothing to stop
        let undetached = try NasProcess.run(["search"] + options + ["--budget", "8", "--run", "x", "--detach"])
        #expect(undetached.status == 2)
        #expect(undetached.stderr.contains("nas serve"))

        let daemon = try Daemon(runs: runs, arguments: [])  // the default: the Unix socket in the runs directory
        let served = try NasProcess.run(["search"] + options + ["--budget", "8", "--run", "c", "--json"])
        #expect(served.status == 0, "\(served.stderr)")
        #expect(served.stderr.contains("nas serve"))
        #expect(Self.candidates(try JSONSerialization.jsonObject(with: Data(served.stdout.utf8))) == Self.candidates(whole))
        let finished = try NasProcess.run(["resume", "c", "--runs", runs])
        #expect(finished.status == 2)
        #expect(finished.stderr.contains("finished its budget"))
        #expect(try NasProcess.run(["stop", "c", "--runs", runs]).stderr.contains("not running"))

        // --detach returns at once with the name; nas watch follows the run to its end.
        let detached = try NasProcess.run(["search"] + options + ["--budget", "8", "--run", "dt", "--detach"])
        #expect(detached.status == 0, "\(detached.stderr)")
        #expect(detached.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "dt")
        let watched = try NasProcess.run(["watch", "dt", "--runs", runs, "--json"])
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(Self.candidates(try JSONSerialization.jsonObject(with: Data(watched.stdout.utf8))) == Self.candidates(whole))
        // NASD_SOCKET names the daemon wherever --runs points.
        var environment = ProcessInfo.processInfo.environment
        environment["NASD_SOCKET"] = runs + "/nasd.sock"
        let elsewhere = try NasProcess.run(["stop", "dt", "--runs", runs + "/no-daemon-here"], environment: environment)
        #expect(elsewhere.stderr.contains("not running"), "\(elsewhere.stderr)")

        // nas runs / status / export ask the daemon: its states, its export queue; with
        // NASD_SOCKET they need no runs directory of their own (a daemon elsewhere).
        let listed = try #require(try NasProcess.json(["runs", "--runs", runs, "--json"]) as? [[String: String]])
        #expect(listed.first { $0["run"] == "dt" }?["state"] == "finished", "\(listed)")
        let remote = try NasProcess.run(["status", "dt", "--runs", runs + "/no-daemon-here", "--json"], environment: environment)
        #expect(remote.status == 0, "\(remote.stderr)")
        #expect(Self.candidates(try JSONSerialization.jsonObject(with: Data(remote.stdout.utf8))) == Self.candidates(whole))
        #expect(try NasProcess.run(["status", "dt", "--runs", runs]).stdout.contains("state: finished (nas serve at unix:"))
        let exported = try NasProcess.run(["export", "dt", "--top", "1", "--epochs", "1", "--subset", "500", "--launches", "1",
                                           "--formats", "onnx", "--runs", runs, "--json"])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stderr.contains("as job 1"), "\(exported.stderr)")
        let models = try #require(try JSONSerialization.jsonObject(with: Data(exported.stdout.utf8)) as? [[String: Any]])
        let hash = try #require(models.first?["hash"] as? String)
        #expect(models.count == 1)
        #expect(FileManager.default.fileExists(atPath: runs + "/dt/exports/1/\(hash)/model.onnx"))
        let refused = try NasProcess.run(["export", "dt", "--arch", "nosuchhash", "--runs", runs])
        #expect(refused.status == 2 && refused.stderr.contains("nosuchhash"), "\(refused.stderr)")

        // A search followed from the terminal, stopped by `nas stop` from another, resumed to its end.
        let follower = Process()
        follower.executableURL = NasProcess.locate()
        follower.arguments = ["search"] + options + ["--budget", "8", "--run", "s"]
        follower.currentDirectoryURL = NasProcess.root
        follower.standardOutput = FileHandle.nullDevice
        let followerErrors = Pipe()
        follower.standardError = followerErrors
        try follower.run()
        _ = try daemon.wait(for: "s") { ($0["done"] as? Int ?? 0) >= 2 }
        let stop = try NasProcess.run(["stop", "s", "--runs", runs])
        #expect(stop.status == 0, "\(stop.stderr)")
        let followerText = String(decoding: followerErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        follower.waitUntilExit()
        #expect(follower.terminationStatus == 130, "\(followerText)")
        #expect(followerText.contains("nas resume s"))
        let resumed = try NasProcess.run(["resume", "s", "--runs", runs, "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(Self.candidates(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8))) == Self.candidates(whole))
        #expect(daemon.terminate().status == 0)
    }

    /// Every path and method the document lists answers with a status the document lists for it.
    @Test("nas serve: every operation in openapi.yaml exists and answers with a documented status")
    func serveMatchesDocument() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let daemon = try Daemon(runs: runs)
        let document = try #require(try Yams.load(yaml: daemon.client.get("/openapi.yaml").text) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var checked = 0
        for (path, item) in paths {
            for method in ["get", "post"] {
                guard let operation = item[method] as? [String: Any] else { continue }
                let documented = Set((operation["responses"] as! [String: Any]).keys.compactMap { Int($0) })
                let concrete = path.replacingOccurrences(of: "{run}", with: "no-such-run").replacingOccurrences(of: "{id}", with: "1")
                    + (path.hasSuffix("events") ? "?follow=false" : "")
                let reply = method == "get" ? try daemon.client.get(concrete) : try daemon.client.post(concrete, json: "{}")
                #expect(documented.contains(reply.status), "\(method) \(path): \(reply.status) \(reply.text)")
                checked += 1
            }
        }
        #expect(checked == 18)
        #expect(daemon.terminate().status == 0)
    }

    @Test("nas serve: schemathesis fuzzes every operation of openapi.yaml: no 5xx, every response as documented; traversal names get 4xx JSON, and the server keeps serving")
    func serveFuzzed() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // No spaces to name: no generated request can start a real search.
        try FileManager.default.createDirectory(atPath: runs + "/no-spaces", withIntermediateDirectories: true)
        let daemon = try Daemon(runs: runs, arguments: ["--listen", "127.0.0.1:0", "--spaces", runs + "/no-spaces"])
        for path in ["/runs/..%2F..%2Fetc", "/runs/..%2F..%2Fetc/candidates", "/runs/..", "/runs/%2e%2e", "/runs/%00",
                     "/ui/runs/..%2F..%2Fetc%2Fpasswd", "/runs/a%2Fb/exports/1"] {
            let reply = try daemon.client.get(path)
            #expect((400..<500).contains(reply.status), "\(path): \(reply.status) \(reply.text)")
            #expect(reply.error.code != nil, "\(path): \(reply.text)")
        }
        #expect(try daemon.client.request("DELETE", "/runs").status == 405)
        guard case let .tcp(port) = daemon.client.address else { Issue.record("not on TCP"); return }
        let url = "http://127.0.0.1:\(port)"
        let fuzz = Process()
        fuzz.executableURL = NasProcess.root.appendingPathComponent(".build/venv/bin/schemathesis")
        // positive_data_acceptance is left out: it expects every schema-valid body to be accepted, and a
        // space's YAML that parses as a string but not as a space is refused by meaning, not by shape.
        fuzz.arguments = ["run", url + "/openapi.yaml", "--url", url, "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                          "--max-examples", "25", "--generation-deterministic", "--request-timeout", "10"]
        // What it caches stays out of the repository.
        fuzz.currentDirectoryURL = URL(fileURLWithPath: runs)
        let out = Pipe()
        fuzz.standardOutput = out
        fuzz.standardError = out
        try fuzz.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        fuzz.waitUntilExit()
        #expect(fuzz.terminationStatus == 0, "\(text.suffix(4000))")
        #expect(text.contains("generated"))
        #expect(try daemon.client.get("/healthz").json()["status"] as? String == "ok")
        #expect(daemon.terminate().status == 0)
    }

    @Test("nas bench serve: every request answered while the daemon trains, with its latency and the training rate around it")
    func benchServe() throws {
        let result = try NasProcess.run(["bench", "serve", "--requests", "100", "--connections", "4", "--quiet", "1", "--rounds", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["requests"] as? Int == 400)
        #expect(report["answered"] as? Int == 400)
        #expect((report["p99_ms"] as? Double ?? 0) > 0)
        #expect((report["images_per_second_quiet"] as? Double ?? 0) > 0)
        #expect((report["training_ratios"] as? [Double])?.count == 2)
        #expect((report["control_ratios"] as? [Double])?.count == 2)
        #expect((report["training_ratio"] as? Double ?? 0) > 0)
    }

    static func events(_ text: String) -> [(id: Int?, kind: String)] {
        text.components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n")
            guard let kind = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7) else { return nil }
            let id = lines.first(where: { $0.hasPrefix("id: ") }).flatMap { Int($0.dropFirst(4)) }
            return (id, String(kind))
        }
    }
}
