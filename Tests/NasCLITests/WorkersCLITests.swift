import Foundation
import Testing

/// Runs stored in a real PostgreSQL server (the one `make test` starts) and
/// evaluated by real `nas worker` processes.
@Suite("nas worker on a PostgreSQL store, end to end")
struct WorkersCLITests {
    static func url() throws -> String {
        let url = ProcessInfo.processInfo.environment["NASD_TEST_POSTGRES"] ?? ""
        try #require(!url.isEmpty, "NASD_TEST_POSTGRES is not set: run the tests with `make test`, which starts a private PostgreSQL server (scripts/postgres-test.sh)")
        return url
    }

    /// A worker whose JSON events go to `log`.
    static func worker(_ arguments: [String], log: String) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = NasProcess.locate()
        process.arguments = ["worker", "--json"] + arguments
        process.currentDirectoryURL = NasProcess.root
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func waitFor(_ what: String, seconds: Double = 180, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            try #require(Date() < deadline, "timed out waiting for \(what)")
            usleep(100_000)
        }
    }

    @Test("Three workers (two killed mid-candidate and replaced) and one on other devices that only trains, with the coordinator killed and resumed: the run ends with the 1-worker run's candidates, the killed workers' candidates re-issued")
    func workersKilled() throws {
        let url = try Self.url()
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-workers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let prefix = "w" + UUID().uuidString.prefix(8).lowercased()
        // Two windows of evolution (4 each); workers and coordinator share the runs folder's latency table.
        let common = ["--space", "SearchSpaces/tiny.yaml", "--strategy", "evolution", "--budget", "8", "--seed", "6",
                      "--threads", "1", "--runs", runs, "--store", url]
        // The 1-worker run: the coordinator's own evaluator is the only one.
        let one = try NasProcess.json(["search"] + common + ["--run", prefix + "-one", "--parallel", "1", "--json"])

        let cut = prefix + "-cut"
        var coordinator = try NasSearchCLITests.start(["search"] + common + ["--run", cut, "--parallel", "0"])
        let workerArguments = ["--store", url, "--run", cut, "--threads", "1", "--lease", "3", "--exit-when-idle", "60", "--runs", runs]
        var workers: [Process] = []
        for number in 0..<3 { workers.append(try Self.worker(workerArguments, log: runs + "/worker\(number).log")) }
        // A fourth acts as a machine of other devices: it trains, and leaves latency to the others.
        workers.append(try Self.worker(workerArguments + ["--as-other-device"], log: runs + "/worker3.log"))
        // Each of the first two workers is killed as soon as it holds a candidate, and replaced.
        for victim in 0..<2 {
            try Self.waitFor("worker \(victim) to claim a candidate") {
                (try? String(contentsOfFile: runs + "/worker\(victim).log", encoding: .utf8))?.contains(#""event":"claimed""#) == true
            }
            kill(workers[victim].processIdentifier, SIGKILL)
            workers[victim].waitUntilExit()
            workers.append(try Self.worker(workerArguments, log: runs + "/worker\(workers.count).log"))
        }
        // The coordinator is killed once half the run is committed, and resumed.
        try Self.waitFor("half the run") {
            let status = try NasProcess.run(["status", cut, "--runs", runs, "--store", url, "--json"])
            let done = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["done"] as? Int
            return (done ?? 0) >= 4
        }
        kill(coordinator.processIdentifier, SIGKILL)
        coordinator.waitUntilExit()
        coordinator = try NasSearchCLITests.start(["resume", cut, "--runs", runs, "--store", url, "--parallel", "0"])
        coordinator.waitUntilExit()
        #expect(coordinator.terminationStatus == 0)

        let status = try NasProcess.json(["status", cut, "--runs", runs, "--store", url, "--json"])
        #expect(NasSearchCLITests.candidates(status) == NasSearchCLITests.candidates(one))
        #expect(NasSearchCLITests.candidates(one).count == 8)
        let shared = try #require((status as? [String: Any])?["shared"] as? [String: Any])
        let queue = try #require(shared["queue"] as? [String: Int])
        #expect(queue["reissued"] ?? 0 >= 2, "\(queue)")
        #expect(queue["done"] == 8)
        #expect(queue["trained_elsewhere"] ?? 0 >= 1, "\(queue)")
        // Asked to stop, the idle workers exit 0.
        for worker in workers where worker.isRunning { worker.terminate() }
        let foreign = try String(contentsOfFile: runs + "/worker3.log", encoding: .utf8)
        #expect(foreign.contains(#""event":"trains-only""#) && !foreign.contains(#""outcome":"measured""#))
        for worker in workers.dropFirst(2) {
            worker.waitUntilExit()
            #expect(worker.terminationStatus == 0)
        }
        let text = try NasProcess.run(["status", cut, "--runs", runs, "--store", url])
        #expect(text.stdout.contains("re-issued after a lost worker"))
    }

    @Test("A run's store is chosen once: a SQLite run is not opened or shadowed through --store, and bad stores are refused with what to do")
    func storeChosenOnce() throws {
        let url = try Self.url()
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-workers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let name = "s" + UUID().uuidString.prefix(8).lowercased()
        let common = ["--space", "SearchSpaces/tiny.yaml", "--strategy", "random", "--budget", "1", "--seed", "1",
                      "--threads", "1", "--runs", runs, "--run", name]
        #expect(try NasProcess.run(["search"] + common).status == 0)
        for arguments in [["status", name, "--runs", runs, "--store", url], ["resume", name, "--runs", runs, "--store", url],
                          ["search"] + common + ["--store", url]] {
            let refused = try NasProcess.run(arguments)
            #expect(refused.status == 2, "\(arguments)")
            #expect(refused.stderr.contains("it is the SQLite run"), "\(refused.stderr)")
        }
        // The SQLite run itself is untouched.
        #expect(try NasProcess.run(["status", name, "--runs", runs]).status == 0)

        let missing = try NasProcess.run(["status", "no-such-\(name)", "--runs", runs, "--store", url])
        #expect(missing.status != 0 && missing.stderr.contains("does not exist"))
        for (arguments, message) in [(["worker", "--store", ""], "needs the database"),
                                     (["worker", "--store", "mysql://u@h/db"], "PostgreSQL URL"),
                                     (["status", name, "--store", "postgres://nasd@127.0.0.1/"], "names no database"),
                                     (["worker", "--store", url, "--lease", "1"], "--lease")] {
            let refused = try NasProcess.run(arguments)
            #expect(refused.status == 2, "\(arguments)")
            #expect(refused.stderr.contains(message), "\(refused.stderr)")
        }
    }

    @Test("nas serve --store: the daemon owns a run stored in PostgreSQL while a nas worker helps; the API lists and serves it, its events come from the server's log, and nas status reads the same run")
    func daemonOnPostgres() throws {
        let url = try Self.url()
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-workers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let daemon = try NasSearchCLITests.Daemon(runs: runs, arguments: ["--listen", "127.0.0.1:0", "--store", url])
        defer { _ = daemon.terminate() }
        let name = "d" + UUID().uuidString.prefix(8).lowercased()
        let created = try daemon.client.post("/runs", json: #"{"space": "tiny", "strategy": "random", "budget": 6, "seed": 3, "threads": 1, "run": "\#(name)"}"#)
        #expect(created.status == 201, "\(created.text)")
        let worker = try Self.worker(["--store", url, "--run", name, "--threads", "1", "--exit-when-idle", "30", "--runs", runs],
                                     log: runs + "/worker.log")
        let finished = try daemon.wait(for: name) { $0["state"] as? String == "finished" }
        #expect(finished["done"] as? Int == 6)
        let listed = try daemon.client.get("/runs").json()["runs"] as? [[String: Any]] ?? []
        #expect(listed.contains { $0["name"] as? String == name })
        let events = NasSearchCLITests.events(try daemon.client.get("/runs/\(name)/events?follow=false").text)
        #expect(events.filter { $0.kind == "candidate-done" }.count == 6)
        let status = try NasProcess.json(["status", name, "--runs", runs, "--store", url, "--json"]) as? [String: Any]
        #expect(status?["done"] as? Int == 6)
        let queue = (status?["shared"] as? [String: Any])?["queue"] as? [String: Int]
        #expect(queue?["done"] == queue?["claims"], "\(String(describing: queue))")
        worker.terminate()
        worker.waitUntilExit()
        #expect(worker.terminationStatus == 0)
    }

    @Test("nas bench scale runs real workers on simulated evaluations and reports efficiency per worker count")
    func benchScale() throws {
        let url = try Self.url()
        let report = try NasProcess.json(["bench", "scale", "--store", url, "--workers", "1,2", "--simulate-seconds", "0.5",
                                          "--per-worker", "2", "--json"]) as! [String: Any]
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.map { $0["workers"] as? Int } == [1, 2])
        #expect(results.map { $0["candidates"] as? Int } == [2, 4])
        // Each worker sleeps 0.5 s per candidate: two rounds cannot take less than a second.
        for result in results { #expect((result["wall_seconds"] as? Double ?? 0) >= 1.0) }
        #expect((results[1]["efficiency"] as? Double ?? 0) > 0.3)
        #expect((report["database_ms_per_transaction"] as? Double ?? 0) > 0)
    }
}
