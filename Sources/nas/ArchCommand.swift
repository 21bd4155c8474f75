import ArgumentParser
import SearchSpace

struct ArchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arch",
        abstract: "Inspect architectures.",
        subcommands: [Show.self]
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
