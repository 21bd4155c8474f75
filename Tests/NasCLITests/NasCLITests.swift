import Foundation
import Search
import Testing

/// The `nas` binary built next to this test bundle, run as a user would.
struct NasProcess {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `nas`; `environment` replaces the test's own when given.
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = locate()
        process.arguments = arguments
        process.currentDirectoryURL = root
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The test bundle lives in the build products directory, beside `nas`:
    /// /proc/self/exe is …/debug/nasdPackageTests.xctest (a file) or inside a bundle directory.
    static func locate() -> URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let folders = [exe.deletingLastPathComponent(), exe.deletingLastPathComponent().deletingLastPathComponent()]
        return folders.map { $0.appendingPathComponent("nas") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
            ?? folders[0].appendingPathComponent("nas")
    }

    static func json(_ arguments: [String]) throws -> Any {
        let result = try run(arguments)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }
}

@Suite("nas CLI, end to end")
struct NasCLITests {
    @Test("nas arch show on the reference file gives mbv2-fm's params and MACs")
    func archShow() throws {
        let report = try NasProcess.json(["arch", "show", "SearchSpaces/reference/mbv2-fm.arch", "--json"]) as! [String: Any]
        #expect(report["params"] as? Int == 149_098)
        #expect(report["macs"] as? Int == 10_571_664)
        #expect(report["hash"] as? String == "abcd0d503120")
        let layers = report["layers"] as! [[String: Any]]
        #expect(layers.reduce(0) { $0 + ($1["macs"] as! Int) } == 10_571_664)

        let half = try NasProcess.json(["arch", "show", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--json"]) as! [String: Any]
        #expect(half["params"] as? Int == 45_882)
        #expect(half["macs"] as? Int == 3_432_064)

        let text = try NasProcess.run(["arch", "show", "SearchSpaces/reference/mbv2-fm.arch"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("total: 149,098 params, 10,571,664 MACs"))
    }

    @Test("nas space sample prints the same five strings every time, and each round-trips through nas arch show")
    func sample() throws {
        let args = ["space", "sample", "SearchSpaces/mnasnet-fm.yaml", "--seed", "7", "--count", "5"]
        let first = try NasProcess.run(args)
        let second = try NasProcess.run(args)
        #expect(first.status == 0)
        #expect(first.stdout == second.stdout)
        let lines = first.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        for line in lines {
            let shown = try NasProcess.json(["arch", "show", line, "--json"]) as! [String: Any]
            #expect(shown["arch"] as? String == line)
        }
        let json = try NasProcess.json(args + ["--json"]) as! [[String: String]]
        #expect(json.map { $0["arch"]! } == lines)
        #expect(json.allSatisfy { $0["hash"]!.count == 12 })
    }

    @Test("nas space check accepts the shipped spaces")
    func checkShipped() throws {
        let result = try NasProcess.run(["space", "check", "SearchSpaces/mnasnet-fm.yaml", "SearchSpaces/mobilenetv2-fm.yaml", "SearchSpaces/tiny.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("distinct architectures"))
        let reports = try NasProcess.json(["space", "check", "SearchSpaces/tiny.yaml", "--json"]) as! [[String: Any]]
        #expect(reports.first?["valid"] as? Bool == true)
        #expect(reports.first?["decisions"] as? Int == 23)
    }

    @Test("nas space check rejects a bad file with file:line:column and exit status 2")
    func checkBad() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-bad-\(UUID().uuidString).yaml").path
        let text = try String(contentsOfFile: NasProcess.root.appendingPathComponent("SearchSpaces/tiny.yaml").path, encoding: .utf8)
            .replacingOccurrences(of: "op: [sep, mb]", with: "op: [sep, mbconv]")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }

        let result = try NasProcess.run(["space", "check", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(path):"))
        #expect(result.stderr.contains("error: unknown op 'mbconv'; expected conv, sep or mb"))

        let json = try NasProcess.run(["space", "check", path, "--json"])
        #expect(json.status == 2)
        let reports = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [[String: Any]]
        #expect(reports.first?["valid"] as? Bool == false)
        #expect((reports.first?["errors"] as? [[String: Any]])?.first?["line"] as? Int != nil)
    }

    @Test("A bad architecture string exits 2 and points at the character")
    func badArchitecture() throws {
        let result = try NasProcess.run(["arch", "show", "r28_w1.0:stem_k3_s1_o16|mb_r1_k9_s1_e1_o16|head_o256"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("at character 32"))
        #expect(result.stderr.contains("expected a kernel"))
        let missing = try NasProcess.run(["arch", "show", "nowhere/x.arch"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nowhere/x.arch: cannot be read"))
    }

    @Test("--help explains the commands")
    func help() throws {
        let result = try NasProcess.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("space"))
        #expect(result.stdout.contains("arch"))
        let sample = try NasProcess.run(["space", "sample", "--help"])
        #expect(sample.stdout.contains("--seed"))
    }

    @Test("GSL's CBLAS binds to OpenBLAS: libopenblas is a direct dependency, ahead of libgsl")
    func openBLASFirst() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/readelf")
        process.arguments = ["-d", NasProcess.locate().path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let needed = text.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        let blas = needed.firstIndex { $0.contains("libopenblas") }
        let gsl = needed.firstIndex { $0.contains("libgsl.so") }
        #expect(blas != nil && gsl != nil && blas! < gsl!, "\(needed)")
        #expect(!needed.contains { $0.contains("libgslcblas") })
    }
}

@Suite("nas train and nas bench train, end to end")
struct NasTrainCLITests {
    static let arch = "r20_w0.5:stem_k3_s1_o16|mb_r1_k3_s2_e3_o24_se0.25|sep_r1_k3f_s2_o32|head_o64"

    @Test("nas train --json trains on the real data, reports the documented fields and saves weights")
    func train() throws {
        let weights = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-cli-\(UUID().uuidString).weights").path
        defer { try? FileManager.default.removeItem(atPath: weights) }
        let report = try NasProcess.json(["train", "--arch", Self.arch, "--subset", "512", "--epochs", "1", "--batch", "64",
                                          "--threads", "2", "--seed", "3", "--save", weights, "--json"]) as! [String: Any]
        for key in ["arch", "hash", "val_accuracy", "val_loss", "epochs", "train_seconds", "images_per_second", "split_seed"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        #expect(report["arch"] as? String == Self.arch)
        #expect(report["diverged"] as? Bool == false)
        #expect(report["test_accuracy"] == nil)
        let accuracy = try #require(report["val_accuracy"] as? Double)
        #expect(accuracy > 0.1 && accuracy <= 1)
        let bytes = try #require(FileManager.default.contents(atPath: weights))
        #expect(bytes.prefix(8) == Data("NASDWTS1".utf8))
    }

    @Test("Bad training options are refused before any work, with what to do")
    func badOptions() throws {
        let result = try NasProcess.run(["train", "--arch", Self.arch, "--subset", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--subset must be in 1...50000"))
        let small = try NasProcess.run(["train", "--arch", Self.arch, "--subset", "10", "--batch", "64"])
        #expect(small.status == 2)
        #expect(small.stderr.contains("smaller than one batch"))
    }

    @Test("nas bench train --json reports steady-state speed")
    func bench() throws {
        let report = try NasProcess.json(["bench", "train", "--arch", Self.arch, "--batch", "32", "--steps", "3",
                                          "--warmup", "1", "--json"]) as! [String: Any]
        for key in ["arch", "batch", "threads", "images_per_second", "ms_per_step", "macs_per_image"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        #expect((report["images_per_second"] as? Double ?? 0) > 0)
    }
}

@Suite("nas latency measure, end to end")
struct NasLatencyCLITests {
    @Test("CPU and Vulkan engines report the documented fields", arguments: ["cpu", "vulkan"])
    func measure(engine: String) throws {
        let report = try NasProcess.json(["latency", "measure", "--arch", "SearchSpaces/reference/mbv2-fm-0.5.arch",
                                          "--engine", engine, "--runs", "10", "--warmup", "2", "--json"]) as! [String: Any]
        for key in ["arch", "engine", "device", "threads", "median_ms", "p10_ms", "p90_ms", "mad_ms", "runs", "fingerprint"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        #expect(report["engine"] as? String == engine)
        #expect((report["median_ms"] as? Double ?? 0) > 0)
        #expect((report["p10_ms"] as! Double) <= (report["p90_ms"] as! Double))
    }

    @Test("Without a Vulkan device the error says what to install, and nothing crashes")
    func noDevice() throws {
        let process = Process()
        process.executableURL = NasProcess.locate()
        process.arguments = ["latency", "measure", "--arch", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--engine", "vulkan"]
        process.currentDirectoryURL = NasProcess.root
        process.environment = ProcessInfo.processInfo.environment.merging(["VK_ICD_FILENAMES": "/nonexistent.json"]) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(text.contains("no Vulkan device"))
        #expect(text.contains("mesa-vulkan-drivers"))
    }
}

@Suite("nas parity and the latency table, end to end")
struct NasParityCLITests {
    @Test("Both engines agree with the trainer layer by layer and on every test image")
    func parity() throws {
        let report = try NasProcess.json(["parity", "--arch", "r20_w0.75:stem_k3_s1_o16|mb_r2_k5f_s2_e3_o24_se0.25|conv_r1_k7s_s2_o32|head_o64",
                                          "--images", "50", "--seed", "4", "--json"]) as! [String: Any]
        let layers = report["layers"] as! [[String: Any]]
        #expect(!layers.isEmpty)
        for layer in layers {
            #expect((layer["cpu"] as! Double) < 1e-4, "\(layer)")
            #expect((layer["vulkan"] as! Double) < 1e-4, "\(layer)")
        }
        for engine in ["cpu", "vulkan"] {
            let summary = report[engine] as! [String: Any]
            #expect(summary["top1_agreement"] as? Double == 1)
            #expect(summary["top5_agreement"] as? Double == 1)
        }
    }

    @Test("With fp16 storage the Vulkan engine stays within its tolerance and agrees on the test images; --precision without Vulkan is refused")
    func parityFP16() throws {
        let report = try NasProcess.json(["parity", "--arch", "r20_w0.75:stem_k3_s1_o16|mb_r2_k5f_s2_e3_o24_se0.25|conv_r1_k7s_s2_o32|head_o64",
                                          "--images", "50", "--seed", "4", "--precision", "fp16", "--json"]) as! [String: Any]
        #expect(report["vulkan_precision"] as? String == "fp16")
        let layers = report["layers"] as! [[String: Any]]
        #expect(!layers.isEmpty)
        var worst = 0.0
        for layer in layers {
            #expect((layer["cpu"] as! Double) < 1e-4, "\(layer)")
            worst = max(worst, layer["vulkan"] as! Double)
        }
        // Rounded to 11 significant bits at every stored tensor: visibly not fp32, and still close.
        #expect(worst > 1e-5 && worst < 2e-2, "worst fp16 layer |Δ| \(worst)")
        let vulkan = report["vulkan"] as! [String: Any]
        #expect((vulkan["top1_agreement"] as! Double) >= 0.98)

        let refused = try NasProcess.run(["latency", "measure", "--arch", "r20_w0.75:stem_k3_s1_o16|head_o64", "--precision", "fp16"])
        #expect(refused.status == 2, "\(refused.status): \(refused.stderr)")
        #expect(refused.stderr.contains("--engine vulkan"))
    }

    @Test("table build, predict and validate on the tiny space")
    func table() throws {
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-cli-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: db) }
        let build = try NasProcess.json(["latency", "table", "build", "--space", "SearchSpaces/tiny.yaml", "--samples", "6",
                                         "--db", db, "--json"]) as! [String: String]
        #expect(build["networks"] == "6")
        // An architecture of the space the table was fitted on (a 6-network fit says little outside it:
        // once it predicted −0.017 ms for mbv2-fm-0.5, which the predictor now refuses).
        let prediction = try NasProcess.json(["latency", "predict", "--arch",
                                              "r20_w0.5:stem_k3_s1_o8|mb_r1_k3_s2_e3_o16|mb_r1_k3_s2_e3_o24|mb_r1_k5s_s1_e3_o32|head_o64",
                                              "--db", db, "--json"]) as! [String: Any]
        #expect((prediction["predicted_ms"] as? Double ?? 0) > 0)
        let validation = try NasProcess.json(["latency", "validate", "--space", "SearchSpaces/tiny.yaml", "--samples", "5",
                                              "--db", db, "--json"]) as! [String: Any]
        #expect(validation["samples"] as? Int == 5)
        for key in ["within_10pct", "within_5pct", "rmse_pct", "max_abs_err_pct"] { #expect(validation[key] != nil) }
        let missing = try NasProcess.run(["latency", "predict", "--arch", "SearchSpaces/reference/mbv2-fm.arch",
                                          "--db", db + ".empty"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nas latency table build"))
    }
}

@Suite("nas search: exact resume after kill -9", .serialized)
struct NasSearchCLITests {
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = NasProcess.locate()
        process.arguments = arguments
        process.currentDirectoryURL = NasProcess.root
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Architecture, status, accuracy and reward of each candidate: what the
    /// same seed must reproduce. A reward recomputed from latency measured
    /// again after the search (the front, when a search finishes) rests on a
    /// new measurement, so there only the fact that it was measured again counts.
    static func candidates(_ status: Any) -> [[String]] {
        ((status as! [String: Any])["candidates"] as! [[String: Any]]).map { c in
            let reward = c["latency_remeasured"] as? Bool == true ? "remeasured" : "\(c["reward"] ?? "-")"
            return [c["arch"] as! String, c["status"] as! String, "\(c["val_accuracy"] ?? "-")", reward]
        }
    }

    @Test("Killed at random points and resumed each time, a run ends with the uninterrupted run's candidates",
          arguments: ["rl", "evolution", "random"])
    func killAndResume(strategy: String) throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-search-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let common = ["--space", "SearchSpaces/tiny.yaml", "--strategy", strategy, "--budget", "8", "--seed", "2",
                      "--threads", "2", "--runs", runs]
        let whole = try NasProcess.json(["search"] + common + ["--run", "whole", "--json"])

        // The same run, killed three times at random moments.
        var pick = SplitMix(seed: UInt64(strategy.count))
        var process = try Self.start(["search"] + common + ["--run", "cut"])
        // A run exists once its configuration is committed (before that, a kill leaves no run at all).
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: runs + "/cut/run.sqlite") { usleep(50_000) }
        for _ in 0..<3 {
            usleep(UInt32(300_000 + pick.next() % 1_500_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            process = try Self.start(["resume", "cut", "--runs", runs])
        }
        process.waitUntilExit()
        let resumed = try NasProcess.json(["status", "cut", "--runs", runs, "--json"])
        let final = try NasProcess.json(["resume", "cut", "--runs", runs, "--json"])  // nothing left to do

        #expect(Self.candidates(resumed) == Self.candidates(whole))
        #expect(Self.candidates(final) == Self.candidates(whole))
        #expect(Self.candidates(whole).count == 8)
        #expect(Self.candidates(whole).allSatisfy { $0[1] == "done" })
    }

    @Test("With --parallel 2, killed at random points and resumed (two at a time, then one), a run ends with the one-at-a-time run's candidates",
          arguments: ["rl", "evolution"])
    func parallelKillAndResume(strategy: String) throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-search-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // Two windows (rl: 5, evolution: 4), one thread per candidate so two fit the two cores.
        let common = ["--space", "SearchSpaces/tiny.yaml", "--strategy", strategy, "--budget", "9", "--seed", "4",
                      "--threads", "1", "--runs", runs]
        let whole = try NasProcess.json(["search"] + common + ["--run", "whole", "--parallel", "1", "--json"])

        var pick = SplitMix(seed: UInt64(strategy.count) + 7)
        var process = try Self.start(["search"] + common + ["--run", "cut", "--parallel", "2"])
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: runs + "/cut/run.sqlite") { usleep(50_000) }
        for round in 0..<3 {
            usleep(UInt32(500_000 + pick.next() % 2_000_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            process = try Self.start(["resume", "cut", "--runs", runs, "--parallel", round == 2 ? "1" : "2"])
        }
        process.waitUntilExit()
        let resumed = try NasProcess.json(["status", "cut", "--runs", runs, "--json"])
        #expect(Self.candidates(resumed) == Self.candidates(whole))
        #expect(Self.candidates(whole).count == 9)
        #expect(Self.candidates(whole).allSatisfy { $0[1] == "done" })
    }

    @Test("nas bench search runs the loop under each setting and reports candidates per hour; bad settings exit 2")
    func benchSearch() throws {
        let report = try NasProcess.json(["bench", "search", "--space", "SearchSpaces/tiny.yaml", "--budget", "2",
                                          "--settings", "1x2,2x1", "--json"]) as! [String: Any]
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.map { "\($0["parallel"] ?? "-")x\($0["threads"] ?? "-")" } == ["1x2", "2x1"])
        #expect(results.allSatisfy { ($0["candidates_per_hour"] as? Double ?? 0) > 0 && ($0["train_seconds"] as? Double ?? 0) > 0 })
        #expect(results.first?["ratio"] as? Double == 1)
        for bad in ["1x2,abc", "0x2", "2x0", ""] {
            let result = try NasProcess.run(["bench", "search", "--settings", bad])
            #expect(result.status == 2, "\(bad): \(result.stderr)")
        }
    }

    @Test("A candidate that fails is recorded with its reason and the worst reward; the run goes on")
    func failures() throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-search-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // Batches of 4096 images at 512×512 and width 4: far more memory than the machine has.
        let space = try String(contentsOfFile: NasProcess.root.appendingPathComponent("SearchSpaces/tiny.yaml").path, encoding: .utf8)
            .replacingOccurrences(of: "width: [0.5, 1.0]", with: "width: [4.0]")
            .replacingOccurrences(of: "resolution: [16, 20]", with: "resolution: [512]")
            .replacingOccurrences(of: "subset: 4000", with: "subset: 5000")
            .replacingOccurrences(of: "batch: 64", with: "batch: 4096")
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        let path = runs + "/huge.yaml"
        try space.write(toFile: path, atomically: true, encoding: .utf8)
        let status = try NasProcess.json(["search", "--space", path, "--strategy", "random", "--budget", "3", "--runs", runs,
                                          "--run", "huge", "--json"]) as! [String: Any]
        let candidates = status["candidates"] as! [[String: Any]]
        #expect(candidates.count == 3)
        #expect(candidates.allSatisfy { $0["status"] as? String == "failed" && $0["reward"] as? Double == 0 })
        #expect(status["done"] as? Int == 3)
        let store = try NasProcess.run(["status", "huge", "--runs", runs])
        #expect(store.status == 0)
        let export = try NasProcess.run(["export", "huge", "--runs", runs])
        #expect(export.status == 2)
        #expect(export.stderr.contains("has no finished candidate to export"))
        #expect(!FileManager.default.fileExists(atPath: runs + "/huge/export"))
    }

    @Test("--engine vulkan: the reward counts the Vulkan device's latency; the CPU's is kept for the Pareto front")
    func vulkanReward() throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-search-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let common = ["search", "--space", "SearchSpaces/tiny.yaml", "--strategy", "random", "--budget", "3", "--runs", runs,
                      "--engine", "vulkan"]
        let noTarget = try NasProcess.run(common + ["--run", "v0"])
        #expect(noTarget.status == 2)
        #expect(noTarget.stderr.contains("give --target-ms for vulkan"))

        let target = 1.0
        let status = try NasProcess.json(common + ["--run", "v", "--target-ms", "\(target)", "--json"]) as! [String: Any]
        let candidates = status["candidates"] as! [[String: Any]]
        #expect(candidates.count == 3)
        for c in candidates {
            let latency = try #require(c["latency_ms"] as? [String: Double])
            let vulkan = try #require(latency["vulkan"])
            #expect(latency["cpu"] != nil)
            let accuracy = try #require(c["val_accuracy"] as? Double)
            let expected = Reward(engine: .vulkan, targetMilliseconds: target, constraint: .soft)
                .value(accuracy: accuracy, latencyMilliseconds: vulkan)
            #expect(abs((c["reward"] as? Double ?? 0) - expected) < 1e-9)
        }
        let predicted = try NasProcess.run(["search", "--space", "SearchSpaces/tiny.yaml", "--budget", "1", "--runs", runs,
                                            "--run", "p", "--latency", "predicted"])
        #expect(predicted.status == 2)
        #expect(predicted.stderr.contains("nas latency table build --engine cpu"))
        #expect(!FileManager.default.fileExists(atPath: runs + "/p"))  // the name stays free

        let comparison = try NasProcess.json(["compare", "--runs", runs, "--json"]) as! [String: Any]
        let run = try #require((comparison["runs"] as? [[String: Any]])?.first)
        #expect(run["run"] as? String == "v")
        #expect(run["best_reward"] as? Double == candidates.compactMap { $0["reward"] as? Double }.max())
        #expect((run["hypervolume"] as? Double ?? 0) > 0)
        #expect((comparison["groups"] as? [[String: Any]])?.count == 1)
    }

    @Test("--hours stops a run when its time is spent, counting earlier sessions after a resume")
    func timeBudget() throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-search-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // About 4 s: a few tiny candidates, far fewer than the budget of 500.
        let first = try NasProcess.json(["search", "--space", "SearchSpaces/tiny.yaml", "--strategy", "random", "--budget", "500",
                                         "--hours", "0.0011", "--runs", runs, "--run", "t", "--json"]) as! [String: Any]
        let done = try #require(first["done"] as? Int)
        #expect(done >= 1 && done < 500)
        // Resumed, the run's time is already spent: nothing more is evaluated.
        let resumed = try NasProcess.json(["resume", "t", "--runs", runs, "--json"]) as! [String: Any]
        #expect(resumed["done"] as? Int == done)
        let zero = try NasProcess.run(["search", "--space", "SearchSpaces/tiny.yaml", "--hours", "0", "--runs", runs])
        #expect(zero.status == 2)
        #expect(zero.stderr.contains("--hours must be in (0.0, 87600.0], got 0.0"))
    }

    @Test("A truncated run database is refused with a clear message")
    func truncated() throws {
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-search-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: runs) }
        _ = try NasProcess.json(["search", "--space", "SearchSpaces/tiny.yaml", "--strategy", "random", "--budget", "2",
                                 "--runs", runs, "--run", "r", "--json"])
        let path = runs + "/r/run.sqlite"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
        let result = try NasProcess.run(["resume", "r", "--runs", runs])
        #expect(result.status == 2)
        #expect(result.stderr.contains("damaged"))
    }
}

/// A deterministic generator for test timings.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
