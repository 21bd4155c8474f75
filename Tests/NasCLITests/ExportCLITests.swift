import Foundation
import Testing

/// `nas export` on a real tiny run: final training, the test set, ONNX
/// checked by onnx and onnxruntime, latency on both engines; resumable.
/// In the serialized search suite: it trains.
extension NasSearchCLITests {
    static func tinyRun(_ runs: String, name: String = "r") throws {
        _ = try NasProcess.json(["search", "--space", "SearchSpaces/tiny.yaml", "--strategy", "random", "--budget", "4",
                                 "--seed", "5", "--threads", "2", "--runs", runs, "--run", name, "--json"])
    }

    static var verifierEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.merging(
            ["NASD_PYTHON": NasProcess.root.appendingPathComponent(".build/venv/bin/python").path,
             "NASD_VERIFIERS": NasProcess.root.appendingPathComponent("scripts").path]) { $1 }
    }

    @Test("nas export trains, tests and writes each model; onnxruntime and ncnn (CPU and Vulkan) agree with the CPU engine; errors are clear")
    func export() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try Self.tinyRun(runs)
        let result = try NasProcess.run(["export", "r", "--runs", runs, "--top", "2", "--epochs", "1", "--subset", "512",
                                   "--threads", "2", "--launches", "2", "--weights", "fp32,fp16,int8", "--verify", "--json"],
                                  environment: Self.verifierEnvironment)
        #expect(result.status == 0, "\(result.stderr)")
        let models = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(models.count == 2)
        for model in models {
            let hash = try #require(model["hash"] as? String)
            let folder = runs + "/r/export/" + hash
            for file in ["model.onnx", "model.param", "model.bin", "weights.nasd", "model.json", "fold.txt"] {
                #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(hash): \(file)")
            }
            // onnxruntime on model.onnx, ncnn's CPU and Vulkan paths on model.param + model.bin.
            let verification = try #require(model["verification"] as? [[String: Any]])
            #expect(verification.map { $0["runtime"] as? String } == ["onnxruntime", "ncnn-cpu", "ncnn-vulkan"])
            for run in verification {
                #expect((run["max_abs_diff"] as? Double ?? 1) < 1e-4, "\(run)")
                #expect(run["top1_agreement"] as? Double == 1, "\(run)")
                #expect(run["images"] as? Int == 256)
                // Each runtime times the file it loaded.
                #expect((run["latency_ms"] as? Double ?? 0) > 0, "\(run)")
            }
            // BN folding measured: the folded model answers as the trained network over the whole test set.
            let fold = try #require(model["fold"] as? [String: Any])
            #expect(fold["images"] as? Int == 10_000)
            #expect(fold["top1_agreement"] as? Double == 1 && fold["top5_agreement"] as? Double == 1, "\(fold)")
            #expect((fold["max_unit_abs_diff"] as? Double ?? 1) < 1e-4, "\(fold)")
            let foldText = try String(contentsOfFile: folder + "/fold.txt", encoding: .utf8)
            #expect(foldText.contains("stem + stem.bn + stem.act") && foldText.contains("top-1 agreement 100.00% (10000/10000)"), "\(foldText)")
            #expect(model["initialisation"] as? String == "fan-in-uniform")
            // fp16 (ONNX and ncnn) and int8 (ONNX) variants, each with its own files, test accuracy and checks.
            let variants = try #require(model["variants"] as? [[String: Any]])
            #expect(variants.map { $0["precision"] as? String } == ["fp16", "int8"])
            for variant in variants {
                let checks = try #require(variant["verification"] as? [[String: Any]])
                #expect(checks.map { $0["runtime"] as? String }
                        == (variant["precision"] as? String == "int8" ? ["onnxruntime"] : ["onnxruntime", "ncnn-cpu", "ncnn-vulkan"]))
                #expect(checks.allSatisfy { ($0["max_abs_diff"] as? Double ?? 1) < 1e-4 && $0["top1_agreement"] as? Double == 1 })
                #expect(checks.allSatisfy { ($0["latency_ms"] as? Double ?? 0) > 0 }, "\(checks)")
                let accuracy = try #require(variant["test_accuracy"] as? Double)
                #expect(accuracy > 0 && accuracy <= 1)
                let files = try #require(variant["files"] as? [String: Int])
                #expect(files.keys.allSatisfy { FileManager.default.fileExists(atPath: folder + "/" + $0) })
            }
            let sizes = try #require(model["files"] as? [String: Int])
            let int8 = try #require(variants.last?["files"] as? [String: Int])
            // Smaller than fp32, though on a tiny network the graph (names, scales) weighs as much as the weights.
            #expect((int8["model-int8.onnx"] ?? .max) < (sizes["model.onnx"] ?? 0))
            let test = try #require(model["test_accuracy"] as? Double)
            #expect(test > 0 && test <= 1)
            #expect(model["training_images"] as? Int == 512)
            let latency = try #require(model["latency"] as? [[String: Any]])
            #expect(latency.map { $0["engine"] as? String } == ["cpu", "vulkan"])
            #expect(latency.allSatisfy { ($0["median_ms"] as? Double ?? 0) > 0 && ($0["launches_ms"] as? [Double])?.count == 2 })
        }

        // The report and the plot: the plot renders (rsvg-convert, as a viewer would) at 800×600.
        let report = try String(contentsOfFile: runs + "/r/export/report.md", encoding: .utf8)
        for model in models { #expect(report.contains(model["hash"] as? String ?? "?")) }
        #expect(report.contains("![Validation accuracy against CPU latency](pareto.svg)"))
        #expect(report.contains("| onnxruntime ms | ncnn-cpu ms | ncnn-vulkan ms |") && report.contains("| int8 |"))
        let png = runs + "/r/export/pareto.png"
        let render = Process()
        render.executableURL = URL(fileURLWithPath: "/usr/bin/rsvg-convert")
        render.arguments = ["-o", png, runs + "/r/export/pareto.svg"]
        try render.run()
        render.waitUntilExit()
        #expect(render.terminationStatus == 0)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: png)))
        #expect(bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let size = { (at: Int) in bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        #expect(size(16) == 800 && size(20) == 600)

        let unknown = try NasProcess.run(["export", "r", "--runs", runs, "--arch", "000000000000"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("has no finished candidate 000000000000"))
        let unwritable = try NasProcess.run(["export", "r", "--runs", runs, "--out", "/proc/nasd-export"])
        #expect(unwritable.status == 1)
        #expect(unwritable.stderr.contains("choose a writable --out"))
        let both = try NasProcess.run(["export", "r", "--runs", runs, "--top", "1", "--arch", "000000000000"])
        #expect(both.status == 2)
        let int8 = try NasProcess.run(["export", "r", "--runs", runs, "--formats", "ncnn", "--weights", "int8"])
        #expect(int8.status == 2)
        #expect(int8.stderr.contains("int8 is written as ONNX only"))
        // Run again with other settings into the same folder: refused, nothing replaced.
        let other = try NasProcess.run(["export", "r", "--runs", runs, "--top", "2", "--epochs", "2", "--subset", "512"])
        #expect(other.status == 2)
        #expect(other.stderr.contains("was exported with other settings"))
        let format = try NasProcess.run(["export", "r", "--runs", runs, "--formats", "onnx,tflite"])
        #expect(format.status == 2)
        #expect(format.stderr.contains("unknown format 'tflite'"))
        let noVerifier = try NasProcess.run(["export", "r", "--runs", runs, "--verify"],
                                      environment: ProcessInfo.processInfo.environment.merging(["NASD_PYTHON": "/nonexistent"]) { $1 })
        #expect(noVerifier.status == 1)
        #expect(noVerifier.stderr.contains("scripts/python-env.sh"))
    }

    @Test("Killed while exporting and run again, an export keeps the models it finished and leaves no half-written one")
    func exportKilled() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        try Self.tinyRun(runs)
        let out = runs + "/out"
        let arguments = ["export", "r", "--runs", runs, "--top", "3", "--epochs", "2", "--subset", "3000", "--threads", "2",
                         "--launches", "1", "--out", out]
        let process = try Self.start(arguments)
        // Kill it once the first model is whole. Model folders are named by hash (no dot);
        // staging ones start with a dot; pareto.svg and report.md come last.
        func whole() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { !$0.contains(".") }.sorted()
        }
        for _ in 0..<1200 where whole().isEmpty && process.isRunning { usleep(50_000) }
        #expect(process.isRunning, "the export ended before it could be killed")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let first = whole()
        #expect(!first.isEmpty && first.count < 3)
        // Every folder that looks finished is: a model is renamed into place only when whole.
        for hash in first { #expect(FileManager.default.fileExists(atPath: out + "/" + hash + "/model.json")) }
        let weights = out + "/" + (first.first ?? "") + "/weights.nasd"
        let before = try FileManager.default.attributesOfItem(atPath: weights)[.modificationDate] as? Date

        let again = try NasProcess.run(arguments + ["--json"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("already exported"))
        let after = try FileManager.default.attributesOfItem(atPath: weights)[.modificationDate] as? Date
        #expect(before == after)  // not trained again
        #expect(whole().count == 3)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).allSatisfy { !$0.hasSuffix(".partial") })
    }
}
