import Engine
import Foundation
import Testing

/// What the restructuring ("runs as a library", one error model, a stoppable
/// search) promises a user, checked through the binary.
@Suite("nas: bad input, shared limits, old runs and old spellings")
struct RoomToGrowTests {
    static func temporaryRuns() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("nasd-cli-\(UUID().uuidString)").path
    }

    /// oneDNN's training kernels sum in another order with AVX-512 (channels
    /// blocked by 16) than with AVX2 (by 8), so a run's accuracies are the
    /// same bytes on every machine of one vector width, not across widths:
    /// the pins below are per width.
    static let avx512 = ComputeContext.isa.hasPrefix("avx512")

    static let pinnedArchitectures = [
        "r20_w1.0:stem_k3_s1_o8|sep_r1_k3_s2_o16|sep_r2_k3_s2_o24_se0.25_noskip|mb_r1_k3f_s1_e1_o32|head_o64",
        "r20_w0.5:stem_k3_s1_o8|mb_r1_k3_s2_e3_o16_se0.25|sep_r1_k3f_s2_o24|sep_r1_k3f_s1_o32_se0.25_noskip|head_o64",
        "r20_w1.0:stem_k3_s1_o8|sep_r1_k3_s2_o16_se0.25|mb_r2_k3f_s2_e1_o24_noskip|mb_r1_k5s_s1_e1_o32_se0.25|head_o64",
        "r16_w1.0:stem_k3_s1_o8|sep_r1_k3f_s2_o16_se0.25|mb_r1_k5s_s2_e3_o24_se0.25|mb_r1_k3f_s1_e1_o32|head_o64",
        "r20_w0.5:stem_k3_s1_o8|mb_r1_k3_s2_e3_o16|mb_r1_k3_s2_e3_o24|mb_r1_k5s_s1_e3_o32|head_o64",
        "r20_w1.0:stem_k3_s1_o8|sep_r1_k3_s2_o16_se0.25|sep_r2_k5s_s2_o24_se0.25|mb_r1_k5s_s1_e1_o32|head_o64",
    ]

    /// A tiny evolution search (`nas search --space SearchSpaces/tiny.yaml
    /// --strategy evolution --budget 6 --seed 11 --threads 2 --init
    /// he-normal`): its candidates and validation accuracies, which any later
    /// build must reproduce exactly. AVX2: made with the build before the
    /// restructuring (commit 60c8346, whose only initialisation was he-normal;
    /// a run it made reads back as he-normal). AVX-512: recorded on an AVX-512
    /// EPYC on 2026-11-25 (commit f8bd31e).
    static let pinned: [(arch: String, accuracy: Double)] = Array(zip(pinnedArchitectures, avx512
        ? [0.6444, 0.5746, 0.6561, 0.6047, 0.6172, 0.6174]
        : [0.6524, 0.555, 0.6532, 0.6196, 0.6432, 0.6516]))
    static let pinnedArguments = ["--space", "SearchSpaces/tiny.yaml", "--strategy", "evolution", "--budget", "6", "--seed", "11",
                                  "--threads", "2", "--init", "he-normal"]

    /// The same search with today's default initialisation (fan-in uniform),
    /// recorded when it became the default (AVX2) and on 2026-11-25 (AVX-512).
    static let pinnedRecommended: [(arch: String, accuracy: Double)] = Array(zip(pinnedArchitectures, avx512
        ? [0.6469, 0.5465, 0.6466, 0.6161, 0.6734, 0.6924]
        : [0.6144, 0.5487, 0.6263, 0.611, 0.6533, 0.6909]))

    static func candidates(_ status: Any) -> [(arch: String, accuracy: Double)] {
        ((status as! [String: Any])["candidates"] as! [[String: Any]]).map { ($0["arch"] as! String, $0["val_accuracy"] as? Double ?? -1) }
    }

    @Test("Absurd options are refused before anything is created, with exit status 2",
          arguments: [(["--threads", "0"], "--threads must be in 1...256, got 0"),
                      (["--threads", "100000"], "--threads must be in 1...256, got 100000"),
                      (["--budget", "0"], "--budget must be in"),
                      (["--hours", "nan"], "--hours must be in"),
                      (["--target-ms", "inf"], "--target-ms must be in"),
                      (["--run", "../outside"], "is not a run name"),
                      (["--run", ".hidden"], "is not a run name"),
                      (["--parallel", "0"], "--parallel must be in 1...64, got 0")])
    func badSearchOptions(options: [String], message: String) throws {
        let runs = Self.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let result = try NasProcess.run(["search", "--space", "SearchSpaces/tiny.yaml", "--budget", "1", "--runs", runs] + options)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs))
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("outside").path + "/run.sqlite"))
    }

    @Test("Training options share the space parser's limits (warm-up is checked, --lr's range is the parser's)")
    func sharedLimits() throws {
        let warmup = try NasProcess.run(["train", "--arch", NasTrainCLITests.arch, "--warmup-epochs=-1"])
        #expect(warmup.status == 2)
        #expect(warmup.stderr.contains("--warmup-epochs must be in 0.0...1000.0"))
        let lr = try NasProcess.run(["train", "--arch", NasTrainCLITests.arch, "--lr", "0"])
        #expect(lr.status == 2)
        #expect(lr.stderr.contains("--lr must be in (0.0, 10.0]"))
        let threads = try NasProcess.run(["train", "--arch", NasTrainCLITests.arch, "--threads", "100000"])
        #expect(threads.status == 2)
    }

    @Test("A missing data set is the machine's lack: exit 1 from nas train and nas search alike, saying what to install")
    func missingDataset() throws {
        let runs = Self.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        for arguments in [["train", "--arch", NasTrainCLITests.arch, "--subset", "64", "--batch", "64"],
                          ["search", "--space", "SearchSpaces/tiny.yaml", "--budget", "1", "--runs", runs]] {
            let result = try NasProcess.run(arguments, environment: ProcessInfo.processInfo.environment.merging(
                ["NASD_FASHION_MNIST": runs + "/nowhere"]) { $1 })
            let text = result.stderr
            #expect(result.status == 1, "\(arguments[0]): \(text)")
            #expect(text.contains("dataset-fashion-mnist"), "\(arguments[0]): \(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: runs + "/tiny-evolution-s0"))
    }

    @Test("A run made before the configuration was versioned resumes through the CLI")
    func preProxyRun() throws {
        let runs = Self.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try FileManager.default.createDirectory(atPath: runs + "/old", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: NasProcess.root.appendingPathComponent("Tests/RunsTests/Fixtures/pre-proxy-run.sqlite").path,
                                         toPath: runs + "/old/run.sqlite")
        let status = try NasProcess.json(["resume", "old", "--runs", runs, "--json"]) as! [String: Any]
        #expect(status["done"] as? Int == 2)
        #expect(status["budget"] as? Int == 2)
    }

    @Test("nas pareto lists a run's front with its hypervolume; a bad objective or an empty front is a clear error")
    func pareto() throws {
        let runs = Self.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try FileManager.default.createDirectory(atPath: runs + "/old", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: NasProcess.root.appendingPathComponent("Tests/RunsTests/Fixtures/pre-proxy-run.sqlite").path,
                                         toPath: runs + "/old/run.sqlite")
        // The fixture's two candidates: 0.6096 at 0.0318 ms and 0.5574 at 0.0170 ms, both on the front.
        let report = try NasProcess.json(["pareto", "old", "--runs", runs, "--json"]) as! [String: Any]
        let front = report["front"] as! [[String: Any]]
        #expect(front.map { $0["hash"] as? String } == ["cfc4f2116fc5", "410d68cb4a05"])
        #expect(report["candidates"] as? Int == 2)
        let expected = (1 - 0.017032) * (0.5574 - 0.1) + (1 - 0.031769) * (0.6096 - 0.5574)
        #expect(abs((report["hypervolume"] as? Double ?? 0) - expected) < 1e-9)
        let text = try NasProcess.run(["pareto", "old", "--runs", runs])
        #expect(text.status == 0)
        #expect(text.stdout.contains("2 of 2 distinct architectures on the front"))

        let vulkan = try NasProcess.run(["pareto", "old", "--runs", runs, "--objectives", "acc,vulkan"])
        #expect(vulkan.status == 2)
        #expect(vulkan.stderr.contains("no finished candidate with a vulkan latency"))
        let bad = try NasProcess.run(["pareto", "old", "--runs", runs, "--objectives", "acc,gpu"])
        #expect(bad.status == 2)
        let missing = try NasProcess.run(["pareto", "nothing", "--runs", runs])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no run there"))
    }

    @Test("The latency commands' count of timed runs is --timed-runs; the old --runs still works and says so")
    func timedRuns() throws {
        let arguments = ["latency", "measure", "--arch", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--warmup", "2", "--json"]
        let new = try NasProcess.run(arguments + ["--timed-runs", "7"])
        #expect(new.status == 0)
        #expect(!new.stderr.contains("warning"))
        let old = try NasProcess.run(arguments + ["--runs", "7"])
        #expect(old.status == 0)
        #expect(old.stderr.contains("--runs here is the old spelling of --timed-runs"))
        for result in [new, old] {
            let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
            #expect(report["runs"] as? Int == 7)
        }
    }
}

/// The searches run in the serialized search suite: two trainings at once on
/// two cores oversubscribe OpenMP, whose spinning threads then crawl.
extension NasSearchCLITests {
    @Test("A tiny search reproduces the candidates and accuracies of the build before the restructuring, and of the default initialisation's first build")
    func pinnedSearch() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let status = try NasProcess.json(["search"] + RoomToGrowTests.pinnedArguments + ["--runs", runs, "--run", "pin", "--json"])
        let found = RoomToGrowTests.candidates(status)
        #expect(found.map(\.arch) == RoomToGrowTests.pinned.map(\.arch))
        #expect(found.map(\.accuracy) == RoomToGrowTests.pinned.map(\.accuracy))

        let recommended = RoomToGrowTests.candidates(try NasProcess.json(
            ["search"] + RoomToGrowTests.pinnedArguments.dropLast(2) + ["--runs", runs, "--run", "pin-default", "--json"]))
        #expect(recommended.map(\.arch) == RoomToGrowTests.pinnedRecommended.map(\.arch), "\(recommended)")
        #expect(recommended.map(\.accuracy) == RoomToGrowTests.pinnedRecommended.map(\.accuracy), "\(recommended)")
    }

    @Test("Ctrl-C stops at a checkpoint-consistent point, says how to resume, and the resumed run equals the pinned one")
    func interruptAndResume() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let process = Process()
        process.executableURL = NasProcess.locate()
        process.arguments = ["search"] + RoomToGrowTests.pinnedArguments + ["--runs", runs, "--run", "cut"]
        process.currentDirectoryURL = NasProcess.root
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for the second candidate to start training, then interrupt.
        let database = runs + "/cut/run.sqlite"
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: database) { usleep(50_000) }
        usleep(2_500_000)
        kill(process.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(stderr.contains("interrupted: every finished candidate is saved; continue with `nas resume cut"))
        let stopped = try NasProcess.json(["status", "cut", "--runs", runs, "--json"]) as! [String: Any]
        #expect((stopped["done"] as? Int ?? 6) < 6)

        let resumed = try NasProcess.json(["resume", "cut", "--runs", runs, "--json"])
        let found = RoomToGrowTests.candidates(resumed)
        #expect(found.map(\.arch) == RoomToGrowTests.pinned.map(\.arch))
        #expect(found.map(\.accuracy) == RoomToGrowTests.pinned.map(\.accuracy))
    }

}
