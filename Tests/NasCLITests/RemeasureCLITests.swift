import Foundation
import RunStore
import Testing

struct RemeasureCLITests {
    @Test("A search measures its front again before finishing; nas remeasure does it on demand in interleaved launches, stores the medians and every launch with its load, and refuses bad input")
    func remeasure() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        _ = try NasProcess.json(["search", "--space", "SearchSpaces/tiny.yaml", "--strategy", "random", "--seed", "3", "--budget", "3",
                                 "--threads", "2", "--run", "r", "--runs", runs, "--json"])
        let store = try SQLiteRunStore(path: runs + "/r/run.sqlite")

        // The search measured its front again before it finished: 3 launches each, medians stored.
        let atFinish = try store.measurements()
        let frontAtFinish = Set(atFinish.map(\.candidate))
        #expect(!atFinish.isEmpty && atFinish.allSatisfy { $0.purpose == "front" && $0.engine == "cpu" })
        #expect(atFinish.count == 3 * frontAtFinish.count && Set(atFinish.map(\.launch)) == [1, 2, 3])
        for index in frontAtFinish {
            let launches = atFinish.filter { $0.candidate == index }.map(\.medianMs).sorted()
            #expect(try store.candidates().first { $0.index == index }?.latencyCPUMs == launches[1], "the median of 3 launches")
        }
        let events = try store.events().map(\.kind)
        let remeasured = try #require(events.firstIndex(of: "remeasured")), finished = try #require(events.lastIndex(of: "finished"))
        #expect(remeasured < finished, "measured again before the run is marked finished: \(events)")
        // Status marks exactly those candidates as measured again.
        let status = try #require(try NasProcess.json(["status", "r", "--runs", runs, "--json"]) as? [String: Any])
        let marked = (status["candidates"] as? [[String: Any]] ?? []).filter { $0["latency_remeasured"] as? Bool == true }
        #expect(Set(marked.compactMap { $0["index"] as? Int }) == frontAtFinish)
        // A finished run resumed is not measured again.
        _ = try NasProcess.json(["resume", "r", "--runs", runs, "--json"])
        #expect(try store.measurements().count == atFinish.count)

        let report = try #require(try NasProcess.json(["remeasure", "r", "--launches", "2", "--runs", runs, "--json"]) as? [String: Any])
        let changes = try #require(report["changes"] as? [[String: Any]])
        let front = try #require(report["front_before"] as? [Int])
        #expect(!changes.isEmpty && changes.count == front.count, "one change per front candidate on the CPU: \(changes)")

        let kept = try store.measurements().filter { $0.purpose == "remeasure" }
        #expect(kept.count == 2 * changes.count)
        #expect(Set(kept.map(\.launch)) == [1, 2])
        #expect(kept.allSatisfy { $0.purpose == "remeasure" && $0.engine == "cpu" && $0.loadAverage != nil && $0.threadShare != nil })
        let candidates = try store.candidates()
        for change in changes {
            let index = try #require(change["index"] as? Int)
            let launches = kept.filter { $0.candidate == index }.map(\.medianMs).sorted()
            let stored = try #require(candidates.first { $0.index == index }?.latencyCPUMs)
            #expect(abs(stored - (launches[0] + launches[1]) / 2) < 1e-9, "the stored figure is the launches' median")
            #expect(abs((change["after_ms"] as? Double ?? 0) - stored) < 1e-9)
        }
        #expect(try store.events().contains { $0.kind == "remeasured" })

        // Again with --all: every finished candidate, and the earlier measurements stay.
        let all = try #require(try NasProcess.json(["remeasure", "r", "--all", "--launches", "1", "--runs", runs, "--json"]) as? [String: Any])
        #expect((all["changes"] as? [Any])?.count == 3)
        #expect(try store.measurements().count == atFinish.count + kept.count + 3)

        for (arguments, says) in [(["remeasure", "r", "--launches", "0"], "--launches"), (["remeasure", "nope"], "nope"),
                                  (["remeasure", "../etc"], "run name")] {
            let refused = try NasProcess.run(arguments + ["--runs", runs])
            #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains(says), "\(arguments): \(refused.stderr)")
        }
        #expect(try store.measurements().count == atFinish.count + kept.count + 3, "a refused command measures nothing")
    }
}
