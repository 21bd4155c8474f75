import Core
import Foundation
import RunStore
import Testing

/// The server `make test` starts (scripts/postgres-test.sh): a private
/// cluster on a loopback port, its URL in NASD_TEST_POSTGRES.
enum TestServer {
    static func url() throws -> PostgresURL {
        let text = ProcessInfo.processInfo.environment["NASD_TEST_POSTGRES"] ?? ""
        try #require(!text.isEmpty, "NASD_TEST_POSTGRES is not set: run the tests with `make test`, which starts a private PostgreSQL server (scripts/postgres-test.sh)")
        return try PostgresURL(text)
    }

    static func runName() -> String { "test-" + UUID().uuidString.prefix(12).lowercased() }
}

@Suite("Run store on PostgreSQL")
struct PostgresRunStoreTests {
    /// One run's history, written to any store.
    static func write(_ store: any RunStore) throws {
        try store.setConfiguration(["seed": "7", "strategy": "evolution"])
        let at = Date(timeIntervalSince1970: 1_795_000_000.125)
        var candidate = CandidateRecord(index: 0, arch: "r16_w1.0:stem_k3_s1_o8|sep_r1_k3_s1_o8|head_o16", hash: "abc",
                                        params: 100, macs: 1000, createdAt: at)
        try store.save(candidate)
        candidate.status = .done
        candidate.valAccuracy = 0.8123456789012345
        candidate.reward = 0.1 + 0.2
        candidate.latencyCPUMs = 0.012345678901234567
        candidate.fingerprintCPU = "cpu-x"
        candidate.weightBytes = 4096
        candidate.finishedAt = at.addingTimeInterval(2.5)
        try store.commit(candidate, checkpoint: Checkpoint(step: 1, controller: Data([1, 2, 3]), streams: Data([4])))
        var failed = CandidateRecord(index: 1, arch: "r16_w1.0:stem_k3_s1_o8|sep_r1_k5s_s1_o8|head_o16", hash: "def",
                                     params: 120, macs: 1300, createdAt: at)
        failed.status = .failed
        failed.error = "diverged: the training loss became NaN or infinite at step 3"
        failed.reward = 0
        try store.commit(failed, checkpoint: Checkpoint(step: 2, controller: Data(repeating: 9, count: 5000), streams: Data()))
        try store.log("note", "two candidates")
        candidate.latencyCPUMs = 0.013
        let measurement = LatencyMeasurement(candidate: 0, engine: "cpu", fingerprint: "cpu-x", purpose: "front", launch: 1, at: at,
                                             medianMs: 0.013, madMs: 0.001, p10Ms: 0.012, p90Ms: 0.015, runs: 50, attempts: 1,
                                             loadAverage: 0.5, threadShare: nil, othersBusy: 0.1, disturbed: false)
        try store.remeasured([candidate], measurements: [measurement], event: "front measured again")
        for step in 3...8 { try store.commit(nil, checkpoint: Checkpoint(step: step, controller: Data([UInt8(step)]), streams: Data())) }
    }

    @Test("The same history written to SQLite and to PostgreSQL reads back identically (every field, doubles bit for bit)")
    func sameAsSQLite() throws {
        let url = try TestServer.url()
        let sqlite = try SQLiteRunStore(path: RunStoreTests.temporaryPath(), create: true)
        let name = TestServer.runName()
        let postgres = try #require(try PostgresRunStore.create(url: url, name: name) { _ in })
        try Self.write(sqlite)
        try Self.write(postgres)
        let reopened = try PostgresRunStore(url: url, name: name)
        #expect(try reopened.configuration() == sqlite.configuration())
        #expect(try reopened.candidates() == sqlite.candidates())
        #expect(try reopened.candidates()[0].reward == 0.1 + 0.2)
        #expect(try reopened.finished(hash: "abc") == sqlite.finished(hash: "abc"))
        #expect(try reopened.finished(hash: "def") == nil)
        #expect(try reopened.latestCheckpoint() == sqlite.latestCheckpoint())
        #expect(try reopened.checkpointSteps() == sqlite.checkpointSteps())
        #expect(try reopened.measurements() == sqlite.measurements())
        #expect(try reopened.remeasuredCandidates(purpose: "front") == [0])
        #expect(try reopened.remeasuredCandidates(purpose: "other").isEmpty)
        #expect(try reopened.remeasuredCandidates(purpose: nil) == [0])
        #expect(try reopened.events().map(\.kind) == sqlite.events().map(\.kind))
        #expect(try reopened.events().map(\.message) == sqlite.events().map(\.message))
        let first = try reopened.events()[0].id
        #expect(try reopened.events(after: first).map(\.kind) == ["candidate-failed", "note", "remeasured"])
        #expect(try PostgresRunStore.names(url: url).contains(name))
    }

    @Test("A run is created whole or not at all: a failure while writing its first records leaves no run and the name free")
    func creationIsAtomic() throws {
        let url = try TestServer.url()
        let name = TestServer.runName()
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            _ = try PostgresRunStore.create(url: url, name: name) { store in
                try store.setConfiguration(["seed": "1"])
                throw Refused()
            }
        }
        #expect(try !PostgresRunStore.names(url: url).contains(name))
        #expect(throws: RunStoreError.self) { try PostgresRunStore(url: url, name: name) }
        let made = try PostgresRunStore.create(url: url, name: name) { try $0.setConfiguration(["seed": "2"]) }
        #expect(try made?.configuration() == ["seed": "2"])
        // A second creation of the name is refused, and the first run is untouched.
        #expect(try PostgresRunStore.create(url: url, name: name) { try $0.setConfiguration(["seed": "3"]) } == nil)
        #expect(try PostgresRunStore(url: url, name: name).configuration() == ["seed": "2"])
    }

    @Test("Workers claim the lowest queued candidate, each a different one; an expired lease is reclaimed and its late result discarded")
    func queue() throws {
        let url = try TestServer.url()
        let name = TestServer.runName()
        let coordinator = try #require(try PostgresRunStore.create(url: url, name: name) { _ in })
        let a = try PostgresRunStore(url: url, name: name), b = try PostgresRunStore(url: url, name: name)
        for index in 0..<3 {
            try coordinator.enqueue(CandidateRecord(index: index, arch: "arch\(index)", hash: "h\(index)", params: 1, macs: 1))
        }
        let first = try #require(try a.claim(worker: "a", leaseSeconds: 1, measures: true))
        let second = try #require(try b.claim(worker: "b", leaseSeconds: 30, measures: true))
        #expect(first.candidate.index == 0 && first.attempt == 1)
        #expect(second.candidate.index == 1)
        #expect(try coordinator.candidates().map(\.status) == [.training, .training])
        #expect(try coordinator.queued(0)?.state == .claimed)
        #expect(try coordinator.queued(0)?.worker == "a")

        // b reports progress with its renewal; the coordinator reads it.
        let progress = TrainingProgress(epoch: 1, epochs: 2, step: 5, stepsPerEpoch: 10, loss: 1.5, imagesPerSecond: 900, elapsedSeconds: 0.5)
        #expect(try b.renew(second, leaseSeconds: 30, progress: progress))
        #expect(try coordinator.queued(1)?.progress == progress)

        // a stalls past its 1-second lease: the lowest claimable candidate is 0 again.
        Thread.sleep(forTimeInterval: 1.3)
        #expect(try !a.renew(first, leaseSeconds: 1, progress: nil))
        let retaken = try #require(try b.claim(worker: "b", leaseSeconds: 30, measures: true))
        #expect(retaken.candidate.index == 0 && retaken.attempt == 2)
        var late = first.candidate
        late.status = .done
        late.valAccuracy = 0.1
        #expect(try !a.complete(first, result: late))
        var result = retaken.candidate
        result.status = .done
        result.valAccuracy = 0.7
        #expect(try b.complete(retaken, result: result))
        #expect(try coordinator.queued(0)?.state == .done)
        #expect(try coordinator.queued(0)?.result?.valAccuracy == 0.7)
        #expect(try coordinator.queued(0)?.attempts == 2)

        // A claim given back is claimable at once; nothing is left once all are taken.
        try b.release(second)
        #expect(try coordinator.queued(1)?.state == .queued)
        #expect(try a.claim(worker: "a", leaseSeconds: 30, measures: true)?.candidate.index == 1)
        #expect(try a.claim(worker: "a", leaseSeconds: 30, measures: true)?.candidate.index == 2)
        #expect(try a.claim(worker: "a", leaseSeconds: 30, measures: true) == nil)

        // Queued again with the same architecture (a coordinator restarted), a delivered
        // result stays; with another, the candidate starts over.
        try coordinator.enqueue(CandidateRecord(index: 0, arch: "arch0", hash: "h0", params: 1, macs: 1))
        #expect(try coordinator.queued(0)?.result?.valAccuracy == 0.7)
        try coordinator.enqueue(CandidateRecord(index: 0, arch: "other", hash: "h9", params: 1, macs: 1))
        #expect(try coordinator.queued(0)?.state == .queued)
        #expect(try coordinator.queued(0)?.result == nil)
    }

    @Test("A candidate trained on other devices waits for a worker on the run's devices to measure its latency, then is delivered")
    func trainedElsewhere() throws {
        let url = try TestServer.url()
        let name = TestServer.runName()
        let coordinator = try #require(try PostgresRunStore.create(url: url, name: name) { _ in })
        let foreign = try PostgresRunStore(url: url, name: name), home = try PostgresRunStore(url: url, name: name)
        try coordinator.enqueue(CandidateRecord(index: 0, arch: "arch0", hash: "h0", params: 1, macs: 1))
        let training = try #require(try foreign.claim(worker: "foreign", leaseSeconds: 30, measures: false))
        #expect(training.work == .train)
        var trained = training.candidate
        trained.valAccuracy = 0.75  // status stays .training: no latency yet
        #expect(try foreign.complete(training, result: trained))
        #expect(try coordinator.queued(0)?.state == .trained)
        // Another foreign worker finds nothing to do; one on the run's devices gets the measurement.
        #expect(try foreign.claim(worker: "foreign", leaseSeconds: 30, measures: false) == nil)
        let measuring = try #require(try home.claim(worker: "home", leaseSeconds: 30, measures: true))
        #expect(measuring.work == .measure && measuring.attempt == 2)
        #expect(measuring.candidate.valAccuracy == 0.75)
        // Given back, it waits for its latency again, not for training.
        try home.release(measuring)
        #expect(try coordinator.queued(0)?.state == .trained)
        let again = try #require(try home.claim(worker: "home", leaseSeconds: 30, measures: true))
        var measured = again.candidate
        measured.latencyCPUMs = 0.02
        measured.status = .done
        #expect(try home.complete(again, result: measured))
        #expect(try coordinator.queued(0)?.state == .done)
        #expect(try coordinator.queued(0)?.result == measured)
        let summary = try coordinator.queueSummary()
        #expect(summary.trainedElsewhere == 1 && summary.done == 1 && summary.awaitingLatency == 0)
        #expect(summary.reissued == 1)  // given back once after training
    }

    @Test("A candidate whose holders are all lost is handed out at most maximumClaims times")
    func claimsAreBounded() throws {
        let url = try TestServer.url()
        let store = try #require(try PostgresRunStore.create(url: url, name: TestServer.runName()) { _ in })
        try store.enqueue(CandidateRecord(index: 0, arch: "arch0", hash: "h0", params: 1, macs: 1))
        var claims = 0
        // Each lease runs out at once, as if its worker had been killed.
        while let claim = try store.claim(worker: "short-lived", leaseSeconds: 0.001, measures: true) {
            claims += 1
            #expect(claim.attempt == claims)
            Thread.sleep(forTimeInterval: 0.005)
            if claims > maximumClaims { break }
        }
        #expect(claims == maximumClaims)
        #expect(try store.queued(0)?.attempts == maximumClaims)
    }

    @Test("A run has one coordinator: a second process's store is refused until the first's connection ends")
    func oneCoordinator() throws {
        let url = try TestServer.url()
        let name = TestServer.runName()
        var first = try #require(try PostgresRunStore.create(url: url, name: name) { _ in }) as PostgresRunStore?
        #expect(try first?.becomeCoordinator() == true)
        let second = try PostgresRunStore(url: url, name: name)
        #expect(try !second.becomeCoordinator())
        // Another run is not affected.
        let other = try #require(try PostgresRunStore.create(url: url, name: TestServer.runName()) { _ in })
        #expect(try other.becomeCoordinator())
        first = nil  // the process ends: its connection closes and the server lets the lock go
        var taken = false
        for _ in 0..<50 where !taken {
            taken = try second.becomeCoordinator()
            if !taken { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(taken)
        _ = first
    }

    @Test("Bad URLs, an unknown run and an unreachable server are refused, each saying what to do")
    func refusals() throws {
        for text in ["mysql://u@h/db", "postgres://h:5432/db", "postgres://u@h:5432/", "postgres://u@:5432/db", "postgres://u@h:99999/db"] {
            #expect(throws: (any Error).self, "\(text)") { try PostgresURL(text) }
        }
        let url = try TestServer.url()
        #expect(try PostgresURL("postgresql://nasd:secret@127.0.0.1:5/nasd").description == "postgres://nasd@127.0.0.1:5/nasd")
        do {
            _ = try PostgresRunStore(url: url, name: "no-such-run-\(UUID().uuidString)")
            Issue.record("an unknown run opened")
        } catch {
            guard case .missing = error else { Issue.record("\(error)"); return }
        }
        // Nothing listens on port 1.
        let nowhere = try PostgresURL("postgres://nasd@127.0.0.1:1/nasd")
        do {
            _ = try PostgresRunStore(url: nowhere, name: "x")
            Issue.record("an unreachable server opened")
        } catch {
            guard case .unreachable = error else { Issue.record("\(error)"); return }
            #expect("\(error)".contains("check that the server runs"))
        }
    }
}
