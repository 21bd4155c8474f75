import Foundation
import Testing

/// `nas arch export` and the peer script built on it: the files load and run
/// in the real runtimes, and the script's figures come out of one command.
struct PeerScriptTests {
    @Test("nas arch export writes an architecture's ONNX and ncnn files; bad formats and architectures write nothing")
    func archExport() throws {
        let out = NSTemporaryDirectory() + "nasd-arch-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let written = try #require(try NasProcess.json(["arch", "export", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--out", out,
                                                        "--json"]) as? [String: Any])
        #expect(written["hash"] as? String == "43eb40edae4d")
        for name in ["model.onnx", "model.param", "model.bin"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: out + "/" + name)[.size] as? Int) ?? 0
            #expect(size > 1000, "\(name): \(size) bytes")
        }
        let onnxOnly = out + "/onnx-only"
        #expect(try NasProcess.run(["arch", "export", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--out", onnxOnly,
                                    "--formats", "onnx"]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: onnxOnly) == ["model.onnx"])
        let unnamed = try NasProcess.run(["arch", "export", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--out", ""])
        #expect(unnamed.status == 2 && unnamed.stderr.contains("--out"), "\(unnamed.stderr)")
        for bad in [["--formats", "tflite"], ["--formats", ""]] {
            let refused = try NasProcess.run(["arch", "export", "SearchSpaces/reference/mbv2-fm-0.5.arch", "--out", out + "/bad"] + bad)
            #expect(refused.status == 2, "\(bad): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out + "/bad"))
        }
        let garbled = try NasProcess.run(["arch", "export", "r28_nonsense", "--out", out + "/bad"])
        #expect(garbled.status == 2 && garbled.stderr.contains("architecture"), "\(garbled.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/bad"))
    }

    @Test("scripts/compare-peers.sh times nasd's engines, ncnn (CPU and Vulkan, default and fp32) and onnxruntime on one network in one command")
    func comparePeers() throws {
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/bin/bash")
        script.arguments = ["scripts/compare-peers.sh", "--rounds", "1", "--runs", "5", "--vulkan-runs", "2", "--warmup", "1",
                            "SearchSpaces/reference/mbv2-fm-0.5.arch"]
        script.currentDirectoryURL = NasProcess.root
        var environment = ProcessInfo.processInfo.environment
        environment["NASD_BIN"] = NasProcess.locate().path
        script.environment = environment
        let out = Pipe()
        script.standardOutput = out
        script.standardError = FileHandle.nullDevice
        try script.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        #expect(script.terminationStatus == 0, "\(text)")
        let first = try #require(text.split(separator: "\n").first, "\(text)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        let medians = try #require(report["median_ms"] as? [String: Double])
        var sides = ["nasd_cpu", "ncnn_cpu", "ncnn_cpu_fp32", "onnxruntime_cpu"]
        if report["vulkan_device"] is String { sides += ["nasd_vulkan", "nasd_vulkan_fp16", "ncnn_vulkan", "ncnn_vulkan_fp32"] }
        for side in sides { #expect((medians[side] ?? 0) > 0, "\(side): \(medians)") }
        #expect(((report["ratios"] as? [String: Any])?["cpu_vs_onnxruntime"] as? Double ?? 0) > 0)
        #expect(text.contains("| mbv2-fm-0.5 |"))
    }
}
