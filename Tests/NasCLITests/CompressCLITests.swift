import Foundation
import Testing

/// `nas compress` on a model exported from a real tiny run: every method
/// fine-tuned on real Fashion-MNIST images, each ONNX variant loaded in
/// onnxruntime; deterministic, and resumable after kill -9.
/// In the serialized search suite: it trains.
extension NasSearchCLITests {
    static let sweep = ["kmeans:8", "kmeans:4", "kmeans:4:folded", "kmeans:2", "linear:4", "prune:0.5", "prune:0.8", "qat:8", "qat:6", "qat:4", "qat:8:act",
                        "binary", "xnor", "filters:0.25"]

    /// A tiny run with its best model exported; returns the model's hash.
    static func exportedModel(_ runs: String) throws -> String {
        try tinyRun(runs)
        let exported = try NasProcess.run(["export", "r", "--runs", runs, "--top", "1", "--epochs", "2", "--subset", "3000",
                                           "--threads", "2", "--launches", "1", "--formats", "onnx", "--json"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let models = try #require(try JSONSerialization.jsonObject(with: Data(exported.stdout.utf8)) as? [[String: Any]])
        return try #require(models.first?["hash"] as? String)
    }

    @Test("nas compress --sweep: every method above chance, sizes as the files hold them, onnxruntime decodes the weights as nasd does")
    func compressSweep() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let hash = try Self.exportedModel(runs)
        // 50 steps an epoch (3,200 images, the tiny proxy's batch of 64), two epochs per method.
        let result = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--sweep", "--finetune-epochs", "2",
                                         "--subset", "3200", "--threads", "2", "--launches", "1", "--verify", "--json"],
                                        environment: Self.verifierEnvironment)
        #expect(result.status == 0, "\(result.stderr)")
        let variants = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(variants.map { $0["method"] as? String } == Self.sweep)
        let out = runs + "/r/export/" + hash + "/compressed"
        for variant in variants {
            let method = try #require(variant["method"] as? String)
            let folder = out + "/" + method.replacingOccurrences(of: ":", with: "-")
            #expect(variant["steps"] as? Int == 100, "\(method)")
            // Above chance (10 classes) after fine-tuning, on the 10k test set.
            let accuracy = try #require(variant["test_accuracy"] as? Double)
            #expect(accuracy > 0.2, "\(method): \(accuracy)")
            // onnxruntime: the logits of the file against nasd's CPU engine on the decoded weights,
            // and the weights it decodes (Gather, DequantizeLinear) against nasd's decoding.
            let verification = try #require((variant["verification"] as? [[String: Any]])?.first)
            #expect(verification["runtime"] as? String == "onnxruntime")
            // Quantised activations: onnxruntime computes the QDQ graph as written, and a value a rounding
            // error from a step's midpoint may land one code away; float ones agree to rounding.
            let activations = method.hasSuffix(":act")
            // xnor's binary inputs likewise: a value a rounding error from 0 may take the other sign.
            let literal = activations || method == "xnor"
            #expect((verification["max_abs_diff"] as? Double ?? 1) < (literal ? 1 : 1e-3), "\(method): \(verification)")
            #expect((verification["top1_agreement"] as? Double ?? 0) >= 0.99, "\(method): \(verification)")
            // The fp32 export timed in the same process, for a ratio.
            #expect((verification["baseline_latency_ms"] as? Double ?? 0) > 0, "\(method): \(verification)")
            #expect((verification["optimised_top1_agreement"] != nil) == literal, "\(method): \(verification)")
            if activations {
                let quantised = try #require(variant["activations"] as? [[String: Any]])
                #expect(quantised.count >= 8, "every tensor between steps: \(quantised)")
                #expect(quantised.allSatisfy { ($0["step"] as? Double ?? 0) > 0 && $0["bits"] as? Int == 8 })
                // ReLU6 fixes its range: uint8 over [0, 6].
                let relu6 = quantised.filter { ($0["layer"] as? String ?? "").hasSuffix(".act") }
                #expect(!relu6.isEmpty && relu6.allSatisfy { $0["signed"] as? Bool == false && $0["range"] as? Double == 6 }, "\(relu6)")
                #expect(quantised.contains { $0["signed"] as? Bool == true }, "a linear bottleneck's output is signed")
                #expect(try Self.operatorCount("QuantizeLinear", folder + "/model.onnx") == quantised.count)
            } else {
                #expect(variant["activations"] == nil, "\(method)")
            }
            #expect((variant["max_weight_abs_diff"] as? Double ?? 1) <= 1e-4, "\(method)")
            // Sizes: the reported bytes per tensor are what the file's initializers add up to.
            let tensors = try #require(variant["tensors"] as? [[String: Any]])
            let reported = Dictionary(uniqueKeysWithValues: tensors.map { ($0["name"] as? String ?? "", $0["bytes"] as? Int ?? -1) })
            let fromFile = try Self.storedBytes(folder + "/model.onnx", method: method)
            #expect(fromFile.packed == reported, "\(method)")
            #expect(variant["weight_bytes"] as? Int == reported.values.reduce(0, +))
            let huffman = Dictionary(uniqueKeysWithValues: tensors.map { ($0["name"] as? String ?? "", $0["huffman_bytes"] as? Int ?? -1) })
            #expect(fromFile.huffman == huffman, "\(method)")
            #expect(variant["huffman_weight_bytes"] as? Int == huffman.values.reduce(0, +))
            let ratio = Double(variant["baseline_weight_bytes"] as? Int ?? 0) / Double(variant["weight_bytes"] as? Int ?? 1)
            #expect(ratio > (method.hasPrefix("filters") ? 1 : 1.5), "\(method) stores \(ratio)× less than fp32")
            if method == "filters:0.25" {
                // A smaller dense network, measured on both engines against the fp32 model in the same command.
                #expect((variant["compressed_arch"] as? String ?? "").contains("_h0.75_"))
                #expect((variant["macs"] as? Int ?? .max) < (variant["baseline_macs"] as? Int ?? 0))
                for key in ["latency", "baseline_latency"] {
                    let latency = try #require(variant[key] as? [[String: Any]], "\(key)")
                    #expect(latency.map { $0["engine"] as? String } == ["cpu", "vulkan"])
                    #expect(latency.allSatisfy { ($0["median_ms"] as? Double ?? 0) > 0 && ($0["launches_ms"] as? [Double])?.count == 1 }, "\(latency)")
                }
            } else {
                #expect(variant["latency"] == nil && variant["compressed_arch"] as? String == variant["arch"] as? String)
            }
            if method == "prune:0.8" {
                // The model as a whole at 0.8 (up to rounding each layer's count of pruned weights to a whole number).
                let counts: [Double] = tensors.map { Double($0["count"] as? Int ?? 0) }
                let zeros: [Double] = zip(tensors, counts).map { ($0["sparsity"] as? Double ?? 0) * $1 }
                let total: Double = counts.reduce(0, +)
                let sparsity: Double = zeros.reduce(0, +) / total
                #expect(abs(sparsity - 0.8) <= Double(tensors.count) / total, "\(tensors)")
                // The first convolution, the depthwise ones and the classifier pruned less; the 1×1 ones take the rest.
                let gentle = tensors.filter { t in
                    let name = t["name"] as? String ?? ""
                    return t["name"] as? String == tensors.first?["name"] as? String || name.contains(".dw.") || name == "head.linear.weight"
                }
                let bulk = tensors.filter { t in !gentle.contains { $0["name"] as? String == t["name"] as? String } }
                let most: Double = gentle.map { $0["sparsity"] as? Double ?? 1 }.max() ?? 1
                let least: Double = bulk.map { $0["sparsity"] as? Double ?? 0 }.min() ?? 0
                #expect(gentle.count >= 3 && !bulk.isEmpty && most < least, "\(gentle) \(bulk)")
            }
            if method == "binary" || method == "xnor" {
                #expect(tensors.first?["encoding"] as? String == "fp32" && tensors.last?["encoding"] as? String == "fp32")
                #expect(tensors.dropFirst().dropLast().allSatisfy { $0["encoding"] as? String == "binary" })
            }
            if method == "xnor" {
                // Every convolution but the first reads its input binarised: Sign → Mul before it in the file.
                let inputs = try #require(variant["binary_inputs"] as? [[String: Any]])
                let convolutions = tensors.dropLast().count
                #expect(inputs.count == convolutions - 1 && inputs.allSatisfy { ($0["scale"] as? Double ?? 0) > 0 }, "\(inputs)")
                #expect(try Self.operatorCount("Sign", folder + "/model.onnx") == inputs.count)
            } else {
                #expect(variant["binary_inputs"] == nil, "\(method)")
            }
        }
        // Folded, the same indices and codebooks without the per-channel scales.
        let bytes = Dictionary(uniqueKeysWithValues: variants.map { ($0["method"] as? String ?? "", $0["weight_bytes"] as? Int ?? 0) })
        #expect(bytes["kmeans:4:folded"]! < bytes["kmeans:4"]!, "\(bytes)")
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        for method in Self.sweep { #expect(report.contains("| \(method) |"), "\(method)") }
        let render = Process()
        render.executableURL = URL(fileURLWithPath: "/usr/bin/rsvg-convert")
        render.arguments = ["-o", out + "/compression.png", out + "/compression.svg"]
        try render.run()
        render.waitUntilExit()
        #expect(render.terminationStatus == 0)

        // Errors say what and how.
        let bits = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "kmeans:3"])
        #expect(bits.status == 2 && bits.stderr.contains("kmeans takes 1, 2, 4, 8 bits, got '3'"), "\(bits.stderr)")
        let unknown = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "gzip"])
        #expect(unknown.status == 2 && unknown.stderr.contains("is not a compression method"))
        let both = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "binary", "--sweep"])
        #expect(both.status == 2 && both.stderr.contains("not both"))
        let missing = try NasProcess.run(["compress", "r", "--runs", runs, "--model", "000000000000", "--method", "binary"])
        #expect(missing.status != 0 && missing.stderr.contains("nas export r --arch 000000000000"), "\(missing.stderr)")
        let other = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "binary", "--finetune-epochs", "1"])
        #expect(other.status == 2 && other.stderr.contains("was made with other settings"), "\(other.stderr)")
        // A variant an earlier build clustered with seeded k-means++ (its settings name no clustering) is not taken for one made now.
        let earlier = out + "/kmeans-4/model.json"
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: earlier))) as? [String: Any])
        var settings = try #require(json["settings"] as? [String: Any])
        #expect(settings.removeValue(forKey: "clustering") as? String == "exact")
        json["settings"] = settings
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: earlier))
        let reclustered = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "kmeans:4",
                                              "--finetune-epochs", "2", "--subset", "3200", "--threads", "2", "--verify"],
                                             environment: Self.verifierEnvironment)
        #expect(reclustered.status == 2 && reclustered.stderr.contains("exact k-means"), "\(reclustered.stderr)")
        // Quantised activations need fine-tuning to observe their ranges: refused before anything is written.
        let unobserved = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "qat:8:act",
                                             "--finetune-epochs", "0", "--out", runs + "/unobserved"])
        #expect(unobserved.status == 2 && unobserved.stderr.contains("--finetune-epochs 1 or more"), "\(unobserved.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs + "/unobserved"))
        let unscaled = try NasProcess.run(["compress", "r", "--runs", runs, "--model", hash, "--method", "xnor",
                                           "--finetune-epochs", "0", "--out", runs + "/unobserved"])
        #expect(unscaled.status == 2 && unscaled.stderr.contains("--finetune-epochs 1 or more"), "\(unscaled.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs + "/unobserved"))
    }

    @Test("Killed while compressing and run again, nas compress keeps its finished variants and redoes the rest bit for bit")
    func compressKilled() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let hash = try Self.exportedModel(runs)
        let methods = ["prune:0.5", "qat:8:act"].flatMap { ["--method", $0] }
        let common = ["compress", "r", "--runs", runs, "--model", hash, "--finetune-epochs", "2", "--subset", "3200", "--threads", "2"] + methods
        let whole = try NasProcess.run(common + ["--out", runs + "/whole"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = runs + "/killed"
        let process = try Self.start(common + ["--out", out])
        func finished() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        }
        for _ in 0..<1200 where finished().isEmpty && process.isRunning { usleep(50_000) }
        #expect(process.isRunning, "the compression ended before it could be killed")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let first = finished()
        #expect(first.count == 1)
        for variant in first { #expect(FileManager.default.fileExists(atPath: out + "/" + variant + "/model.json")) }
        let again = try NasProcess.run(common + ["--out", out])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("already compressed"))
        // Same seed, same variants: whether interrupted or not.
        for variant in ["prune-0.5", "qat-8-act"] {
            let a = FileManager.default.contents(atPath: runs + "/whole/" + variant + "/model.onnx")
            let b = FileManager.default.contents(atPath: out + "/" + variant + "/model.onnx")
            #expect(a != nil && a == b, "\(variant)")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).allSatisfy { !$0.hasSuffix(".partial") })
    }

    /// Standard output of a Python one-off run in the test venv.
    static func venvPython(_ script: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = NasProcess.root.appendingPathComponent(".build/venv/bin/python")
        process.arguments = ["-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }

    /// Nodes of type `op` in an ONNX file.
    static func operatorCount(_ op: String, _ onnx: String) throws -> Int {
        let data = try venvPython("import sys, onnx; print(sum(n.op_type == sys.argv[2] for n in onnx.load(sys.argv[1]).graph.node))", [onnx, op])
        return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Bytes per weight tensor as the ONNX file stores it, computed by onnx in
    /// Python from the initializers: codes packed at the method's bit width,
    /// codebooks and scales as float32, a sparse tensor as a bitmask plus its
    /// non-zeros; and with the codes Huffman-coded where smaller (a Huffman
    /// code's total length is the same for every optimal code, so heapq's
    /// merges give nasd's figure whatever the tie-breaks).
    static func storedBytes(_ onnx: String, method: String) throws -> (packed: [String: Int], huffman: [String: Int]) {
        let parts = method.split(separator: ":")
        let bits = method == "binary" || method == "xnor" ? 1 : parts.count > 1 ? Int(parts[1]) ?? 32 : 32
        let script = """
        import heapq, json, sys, onnx, numpy as np
        from onnx import numpy_helper
        m = onnx.load(sys.argv[1]); bits = int(sys.argv[2]); kind = sys.argv[3]
        init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        out = {}; huffman = {}
        def coded(codes):
            packed = (codes.size * bits + 7) // 8
            weights = sorted(int(c) for c in np.unique(codes, return_counts=True)[1])
            total = weights[0] if len(weights) == 1 else 0
            while len(weights) > 1:
                a = heapq.heappop(weights); b = heapq.heappop(weights)
                total += a + b; heapq.heappush(weights, a + b)
            return packed, min(packed, 2 ** bits + (total + 7) // 8)
        for node in m.graph.node:
            if node.op_type not in ("Conv", "Gemm"): continue
            w = node.input[1]
            if w + ".indices" in init:
                packed, smallest = coded(init[w + ".indices"])
                rest = 4 * init[w + ".codebook"].size + 4 * (init[w + ".channel_scale"].size if w + ".channel_scale" in init else 0)
                out[w] = packed + rest; huffman[w] = smallest + rest
            elif w + ".codes" in init:
                packed, smallest = coded(init[w + ".codes"])
                out[w] = packed + 4 * init[w + ".scale"].size; huffman[w] = smallest + 4 * init[w + ".scale"].size
            elif kind == "prune":
                v = init[w]
                out[w] = huffman[w] = (v.size + 7) // 8 + 4 * int(np.count_nonzero(v))
            else:
                out[w] = huffman[w] = 4 * init[w].size
        json.dump({"packed": out, "huffman": huffman}, sys.stdout)
        """
        let data = try venvPython(script, [onnx, "\(bits)", String(parts.first ?? "")])
        let sizes = try JSONDecoder().decode([String: [String: Int]].self, from: data)
        return (sizes["packed"] ?? [:], sizes["huffman"] ?? [:])
    }
}

extension NasSearchCLITests {
    @Test("Weight precision as a search dimension: _b blocks scored on their codebooks, size in the reward and on the front, same seed same run")
    func searchBits() throws {
        let runs = RoomToGrowTests.temporaryRuns()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let tiny = try String(contentsOfFile: NasProcess.root.appendingPathComponent("SearchSpaces/tiny.yaml").path, encoding: .utf8)
        let space = runs + "/tiny-bits.yaml"
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
        try tiny.replacingOccurrences(of: "  filters: [1.0]\n", with: "  filters: [1.0]\n  bits: [32, 8, 2]\n")
            .write(toFile: space, atomically: true, encoding: .utf8)
        func search(_ name: String) throws -> [[String: Any]] {
            let status = try #require(try NasProcess.json(["search", "--space", space, "--strategy", "random", "--budget", "4", "--seed", "4",
                                                           "--threads", "2", "--size-target-kb", "8", "--runs", runs, "--run", name, "--json"])
                as? [String: Any])
            return try #require(status["candidates"] as? [[String: Any]])
        }
        let candidates = try search("a")
        #expect(candidates.contains { ($0["arch"] as? String ?? "").contains("_b") })
        for c in candidates {
            let accuracy = try #require(c["val_accuracy"] as? Double)
            let latency = try #require((c["latency_ms"] as? [String: Double])?["cpu"])
            let size = Double(try #require(c["weight_bytes"] as? Int)) / 1024
            // tiny.yaml: soft constraint, target 0.05 ms; the size factor has the same form.
            let expected = accuracy * pow(latency / 0.05, -0.07) * pow(size / 8, -0.07)
            #expect(abs((c["reward"] as? Double ?? 0) - expected) < 1e-9, "\(c)")
        }
        let again = try search("b")
        #expect(again.map { $0["arch"] as? String } == candidates.map { $0["arch"] as? String })
        #expect(again.map { $0["val_accuracy"] as? Double } == candidates.map { $0["val_accuracy"] as? Double })
        #expect(again.map { $0["weight_bytes"] as? Int } == candidates.map { $0["weight_bytes"] as? Int })
        let front = try #require(try NasProcess.json(["pareto", "a", "--objectives", "acc,cpu,size", "--runs", runs, "--json"])
            as? [String: Any])
        let members = try #require(front["front"] as? [[String: Any]])
        #expect(!members.isEmpty && members.allSatisfy { $0["weight_bytes"] is Int })
        let bad = try NasProcess.run(["search", "--space", space, "--size-target-kb", "0", "--runs", runs, "--run", "c"])
        #expect(bad.status == 2 && bad.stderr.contains("--size-target-kb must be in"), "\(bad.stderr)")
    }
}
