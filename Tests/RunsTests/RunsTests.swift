import Core
import Engine
import Foundation
import RunStore
import Runs
import Search
import SearchSpace
import Testing

@Suite("Runs as a library: names, the runs folder, stored configurations")
struct RunsTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pre-proxy-run.sqlite").path

    static func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-runs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("Run names: letters, digits, '.', '_', '-', starting with a letter or digit, at most 64",
          arguments: ["demo-tiny", "mnasnet-fm-evolution-s0", "a", "R1.2_x", String(repeating: "x", count: 64)])
    func validNames(name: String) throws {
        #expect(try RunName(name).text == name)
    }

    @Test("Anything else is refused with what a name may hold",
          arguments: ["", "../x", "a/b", ".hidden", "-flag", "x y", "é", String(repeating: "x", count: 65), "..", "a\u{0}b"])
    func invalidNames(name: String) {
        do {
            _ = try RunName(name)
            Issue.record("accepted \(name)")
        } catch {
            #expect(error.kind == .invalidInput)
            #expect(error.description.contains("is not a run name"))
        }
    }

    @Test("A run folder that is a link leading outside the runs directory is refused")
    func symlinkOutside() throws {
        let root = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let runs = root + "/Runs", elsewhere = root + "/elsewhere"
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: runs + "/escape", withDestinationPath: elsewhere)
        let folder = RunsFolder(path: runs)
        #expect(throws: NasError.self) { try folder.directory(try RunName("escape")) }
        #expect(try folder.directory(try RunName("inside")) == runs + "/inside")
    }

    @Test("A run made before the configuration was versioned (no `proxy` key) opens, migrated to the default proxy")
    func preProxyRun() throws {
        let runs = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try FileManager.default.createDirectory(atPath: runs + "/old", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: runs + "/old/run.sqlite")
        let folder = RunsFolder(path: runs)
        #expect(folder.names() == [try RunName("old")])
        let (store, configuration) = try folder.open(try RunName("old"))
        #expect(configuration.proxy == .default)
        // It trained with He-normal weights, and a resume must too, whatever the default is now.
        #expect(configuration.initialisation == .heNormal)
        // And it proposed one candidate at a time.
        #expect(configuration.proposalWindow == 1)
        #expect(configuration.strategy == .random && configuration.budget == 2 && configuration.seed == 3)
        let status = try RunStatus(store, name: try RunName("old"), configuration: configuration)
        #expect(status.done == 2)
        #expect(status.candidates.map(\.hash) == ["410d68cb4a05", "cfc4f2116fc5"])
        // Written back, it carries this build's version and reads back equal.
        let again = try SearchConfiguration(stored: try configuration.stored())
        #expect(again == configuration)
        #expect(try configuration.stored().contains("\"version\":\(SearchConfiguration.currentVersion)"))
    }

    @Test("A configuration from the builds between `search_proxy` and versioning (a `proxy`, no `version`) keeps its proxy")
    func unversionedWithProxy() throws {
        let runs = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try FileManager.default.createDirectory(atPath: runs + "/mid", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: runs + "/mid/run.sqlite")
        let store = try SQLiteRunStore(path: runs + "/mid/run.sqlite")
        let text = try #require(try store.configuration()["configuration"])
        var object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["version"] == nil && object["proxy"] == nil)
        object["proxy"] = "search"
        try store.setConfiguration(["configuration": String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)])
        let (_, configuration) = try RunsFolder(path: runs).open(try RunName("mid"))
        #expect(configuration.proxy == .search)
        #expect(configuration.initialisation == .heNormal)
    }

    @Test("Runs made by earlier builds under names the strict rule refuses still open; new ones get derived names")
    func existingNames() throws {
        let runs = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try FileManager.default.createDirectory(atPath: runs + "/my old run", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: runs + "/my old run/run.sqlite")
        let folder = RunsFolder(path: runs)
        #expect(folder.names().map(\.text) == ["my old run"])
        #expect(throws: Never.self) { _ = try folder.open(try RunName(existing: "my old run")) }
        #expect(throws: NasError.self) { try RunName("my old run") }
        for bad in ["", "..", "a/b", ".creating-x-host-1"] { #expect(throws: NasError.self) { try RunName(existing: bad) } }
        #expect(RunName.derived(from: ["Tiny space é", "evolution", "s0"]).text == "Tiny-space---evolution-s0")
        #expect(RunName.derived(from: [String(repeating: "x", count: 80)]).text.count == 64)
        #expect(RunName.derived(from: ["--", "é"]).text == "run")
    }

    @Test("A configuration written by a newer nasd is refused with a message that says so")
    func newerVersion() throws {
        let runs = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let store = try SQLiteRunStore(path: runs + "/new/run.sqlite", create: true)
        try store.setConfiguration(["configuration": #"{"version": 99, "seed": 1}"#])
        do {
            _ = try RunsFolder(path: runs).open(try RunName("new"))
            Issue.record("a version-99 configuration was opened")
        } catch let error as any ClassifiedError {
            #expect(error.description.contains("version 99, written by a newer nasd"))
            #expect(error.description.contains("upgrade nasd"))
        }
        try store.setConfiguration(["configuration": "{not json"])
        do {
            _ = try RunsFolder(path: runs).open(try RunName("new"))
            Issue.record("an unreadable configuration was opened")
        } catch let error as any ClassifiedError {
            #expect(error.kind == .damaged)
        }
    }

    @Test("Configurations out of range are refused before a run exists")
    func validation() throws {
        let runs = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let yaml = try String(contentsOfFile: root.appendingPathComponent("SearchSpaces/tiny.yaml").path, encoding: .utf8)
        for threads in [0, -3, 100_000] {
            let configuration = SearchConfiguration(
                spaceYAML: yaml, spacePath: "SearchSpaces/tiny.yaml", strategy: .random, seed: 0, budget: 1, hours: nil,
                reward: Reward(engine: .cpu, targetMilliseconds: 0.05, constraint: .soft), latency: .measured,
                threads: threads, latencyTable: runs + "/latency.sqlite")
            #expect(throws: NasError.self) { try RunsFolder(path: runs).create(try RunName("t"), configuration: configuration) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: runs).isEmpty)
    }

    @Test("The evaluator alone, handed one candidate, scores it as the search loop did (what a worker relies on)")
    func evaluatorAlone() throws {
        let runs = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let yaml = try String(contentsOfFile: root.appendingPathComponent("SearchSpaces/tiny.yaml").path, encoding: .utf8)
        // The pinned search's seed and threads (NasCLITests' RoomToGrowTests, default initialisation): its candidate 2.
        let configuration = SearchConfiguration(
            spaceYAML: yaml, spacePath: "SearchSpaces/tiny.yaml", strategy: .evolution, seed: 11, budget: 6, hours: nil,
            reward: Reward(engine: .cpu, targetMilliseconds: 0.05, constraint: .soft), latency: .measured,
            threads: 2, latencyTable: runs + "/latency.sqlite")
        let evaluator = try CandidateEvaluator(configuration: configuration, space: try configuration.space())
        let architecture = try Architecture(
            parsing: "r20_w1.0:stem_k3_s1_o8|sep_r1_k3_s2_o16_se0.25|mb_r2_k3f_s2_e1_o24_noskip|mb_r1_k5s_s1_e1_o32_se0.25|head_o64")
        let network = Network(architecture)
        var candidate = CandidateRecord(index: 2, arch: architecture.description, hash: architecture.hash,
                                        params: network.params, macs: network.macs)
        var steps = 0
        try evaluator.evaluate(network, into: &candidate) { _ in steps += 1 }
        #expect(candidate.status == .done)
        // Per vector width, as RoomToGrowTests pins the search: oneDNN sums in another order with AVX-512.
        let pinned = ComputeContext.isa.hasPrefix("avx512") ? 0.6466 : 0.6263
        #expect(candidate.valAccuracy == pinned)
        #expect(steps == 2 * (4000 / 64))
        let latency = try #require(candidate.latencyCPUMs)
        #expect(candidate.reward == configuration.reward.value(accuracy: pinned, latencyMilliseconds: latency))

        // A stop request thrown from the progress report leaves the candidate unfinished, not failed.
        var stopped = CandidateRecord(index: 3, arch: architecture.description, hash: architecture.hash, params: 0, macs: 0)
        #expect(throws: SearchStopped.self) { try evaluator.evaluate(network, into: &stopped) { _ in throw SearchStopped() } }
        #expect(stopped.status == .queued)
    }
}

