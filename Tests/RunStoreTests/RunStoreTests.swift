import Foundation
import RunStore
import Testing

@Suite("Run store")
struct RunStoreTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("nasd-run-\(UUID().uuidString)/run.sqlite").path
    }

    @Test("Configuration, candidates, checkpoints and events survive reopening")
    func roundTrip() throws {
        // Given a new run database
        let path = Self.temporaryPath()
        let store = try SQLiteRunStore(path: path, create: true)
        // When the run records its configuration, a candidate and a checkpoint
        try store.setConfiguration(["seed": "7", "strategy": "evolution"])
        var candidate = CandidateRecord(index: 0, arch: "r16_w1.0:stem_k3_s1_o8|sep_r1_k3_s1_o8|head_o16", hash: "abc",
                                        params: 100, macs: 1000)
        try store.save(candidate)
        candidate.status = .done
        candidate.valAccuracy = 0.8
        candidate.reward = 0.79
        try store.commit(candidate, checkpoint: Checkpoint(step: 1, controller: Data([1, 2, 3]), streams: Data([4])))
        try store.log("candidate", "0 done")
        // Then a second opening sees all of it
        let reopened = try SQLiteRunStore(path: path)
        #expect(try reopened.configuration() == ["seed": "7", "strategy": "evolution"])
        #expect(try reopened.candidates().map(\.status) == [.done])
        #expect(try reopened.finished(hash: "abc")?.valAccuracy == 0.8)
        #expect(try reopened.latestCheckpoint() == Checkpoint(step: 1, controller: Data([1, 2, 3]), streams: Data([4])))
        #expect(try reopened.events().map(\.kind) == ["candidate-done", "candidate"])
        #expect(try reopened.events(after: reopened.events()[0].id).map(\.kind) == ["candidate"])
        #expect(try reopened.events()[0].message.contains(#""step":1"#))
    }

    @Test("Only the latest checkpoints are kept, the newest always whole")
    func pruning() throws {
        let store = try SQLiteRunStore(path: Self.temporaryPath(), create: true)
        for step in 1...10 {
            try store.commit(nil, checkpoint: Checkpoint(step: step, controller: Data(repeating: UInt8(step), count: 1000), streams: Data()))
        }
        #expect(try store.latestCheckpoint() == Checkpoint(step: 10, controller: Data(repeating: 10, count: 1000), streams: Data()))
        #expect(try store.checkpointSteps() == Array((11 - checkpointsKept)...10))
    }

    @Test("A truncated database is reported as damaged, with what to do")
    func truncated() throws {
        let path = Self.temporaryPath()
        do {
            let store = try SQLiteRunStore(path: path, create: true)
            for i in 0..<200 {
                try store.save(CandidateRecord(index: i, arch: String(repeating: "x", count: 200), hash: "\(i)", params: i, macs: i))
            }
        }  // closing checkpoints the write-ahead log into the main file
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // The main file cut in half, as a full disk or a bad copy leaves it.
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path + ".cut"))
        do {
            _ = try SQLiteRunStore(path: path + ".cut")
            Issue.record("a truncated database was opened")
        } catch {
            #expect(error.description.contains("damaged"))
            #expect(error.description.contains("was not used"))
        }
    }

    @Test("Opening a run that does not exist says so")
    func missing() {
        #expect(throws: RunStoreError.self) { try SQLiteRunStore(path: "/nonexistent/run.sqlite") }
    }
}
