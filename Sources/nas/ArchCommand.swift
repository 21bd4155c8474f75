import ArgumentParser
import Core
import Engine
import Export
import Foundation
import Model
import Runs
import SearchSpace
import Training

struct ArchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arch",
        abstract: "Inspect architectures.",
        subcommands: [Show.self, Export.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode an architecture into its layers, with shapes, params and MACs.",
            discussion: """
            Params are trainable parameters (conv and linear weights, linear and SE biases, \
            BN γ and β). MACs are the multiply-accumulates of one forward pass of one image \
            (convolutions and the linear layer). Padding is "same".
            """
        )

        @Argument(help: "An architecture string, or a .arch file holding one (e.g. SearchSpaces/reference/mbv2-fm.arch).")
        var architecture: String

        @Flag(help: "Print {\"arch\", \"hash\", \"params\", \"macs\", \"layers\": […]} as JSON.")
        var json = false

        func run() throws {
            let arch = try Architecture(argument: architecture)
            let network = Network(arch)
            if json {
                try printJSON(NetworkReport(network))
                return
            }
            print("\(arch)\n  hash \(arch.hash), input \(network.input), \(network.classes) classes\n")
            var rows = [["#", "layer", "kind", "kernel", "stride", "groups", "inputs", "input", "output", "params", "MACs"]]
            for layer in network.layers {
                rows.append(["\(layer.index)", layer.name, layer.kind.rawValue, "\(layer.kernel)", "\(layer.stride)",
                             "\(layer.groups)", layer.inputs.isEmpty ? "image" : layer.inputs.map(String.init).joined(separator: ","),
                             "\(layer.inputShape)", "\(layer.outputShape)", grouped(layer.params), grouped(layer.macs)])
            }
            print(table(rows, rightAligned: [0, 9, 10]))
            print("\ntotal: \(grouped(network.params)) params, \(grouped(network.macs)) MACs, \(network.layers.count) layers")
        }
    }
}

extension ArchCommand {
    /// An architecture's models without a run: what the peer script
    /// (`scripts/compare-peers.sh`) hands ncnn and onnxruntime, so that every
    /// runtime times the same network, weights included, that
    /// `nas latency measure` times.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an architecture as model.onnx and model.param + model.bin (random or trained weights).",
            discussion: """
            The files `nas export` writes per model, from one architecture: batch norm folded, \
            activations fused, input `image` N×1×r×r, output `logits`. Weights: --weights from \
            `nas train --save`, else the random ones `nas latency measure` uses (seed 0), so the \
            runtimes time what nasd's engines time. Each file is written whole or not at all.
            """
        )

        @Argument(help: "An architecture string, or a .arch file holding one.")
        var architecture: String

        @Option(help: "Folder to write into (created if missing).")
        var out: String

        @Option(help: "Weights from `nas train --save` (default: random, seed 0).")
        var weights: String?

        @Option(help: "Formats, comma-separated: onnx, ncnn.")
        var formats = "onnx,ncnn"

        @Flag(help: "Print {\"arch\", \"hash\", \"files\"} as JSON.")
        var json = false

        private func chosen() throws -> [ExportFormat] {
            let names = formats.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !names.isEmpty, names.allSatisfy({ ExportFormat(rawValue: $0) != nil }) else {
                throw NasError.invalidInput("--formats \(formats): give onnx, ncnn or both, comma-separated")
            }
            return ExportFormat.allCases.filter { names.contains($0.rawValue) }
        }

        func validate() throws {
            try validating {
                _ = try chosen()
                guard !out.isEmpty else { throw NasError.invalidInput("--out is empty; give the folder to write the model files into") }
            }
        }

        func run() throws {
            let arch = try Architecture(argument: architecture)
            let network = Network(arch)
            let trained = try weights.map { try WeightsFile.read(from: $0).weights }
            let plan = try InferencePlan(network: network, weights: trained ?? .random(for: network, seed: 0))
            do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                throw NasError.environment("cannot create \(out): \((error as NSError).localizedDescription); choose a writable --out")
            }
            var files: [String: Data] = [:]
            let formats = try chosen()
            if formats.contains(.onnx) {
                files["model.onnx"] = try ONNXModel(plan: plan, metadata: ["arch": arch.description, "hash": arch.hash]).serialized()
            }
            if formats.contains(.ncnn) {
                let ncnn = try NCNNModel(plan: plan)
                files["model.param"] = Data(ncnn.param.utf8)
                files["model.bin"] = ncnn.bin
            }
            for (name, data) in files.sorted(by: { $0.key < $1.key }) {
                do { try data.write(to: URL(fileURLWithPath: out + "/" + name), options: .atomic) } catch {
                    throw NasError.environment("cannot write \(out)/\(name): \((error as NSError).localizedDescription)")
                }
            }
            let written = files.keys.sorted().map { out + "/" + $0 }
            if json {
                struct Written: Encodable { let arch, hash: String; let files: [String] }
                return try printJSON(Written(arch: arch.description, hash: arch.hash, files: written))
            }
            print("\(arch.hash): " + written.joined(separator: ", "))
        }
    }
}

/// The JSON form of a decoded network.
struct NetworkReport: Encodable {
    struct LayerReport: Encodable {
        let index: Int
        let name, unit, kind: String
        let inputs: [Int]
        let kernel, padding: [Int]
        let stride, groups: Int
        let bias: Bool
        let input, output: [Int]
        let params, macs: Int
    }

    let arch, hash: String
    let params, macs, classes: Int
    let input: [Int]
    let layers: [LayerReport]

    init(_ network: Network) {
        let shape = { (s: TensorShape) in [s.channels, s.height, s.width] }
        arch = network.architecture.description
        hash = network.architecture.hash
        params = network.params
        macs = network.macs
        classes = network.classes
        input = shape(network.input)
        layers = network.layers.map { l in
            LayerReport(index: l.index, name: l.name, unit: l.unit, kind: l.kind.rawValue, inputs: l.inputs,
                        kernel: [l.kernel.height, l.kernel.width],
                        padding: [l.padding.height, l.padding.width], stride: l.stride, groups: l.groups, bias: l.bias,
                        input: shape(l.inputShape), output: shape(l.outputShape), params: l.params, macs: l.macs)
        }
    }
}
