import CDNNL
import SearchSpace

/// Decides, once per network, where every gradient lives.
///
/// A value read by several layers (a block input feeding its branch and the
/// residual add; an SE input feeding the pool and the scale) receives one
/// gradient contribution per reader. Backward runs in reverse layer order, so
/// the reader with the highest index contributes first and writes the buffer;
/// the others write scratch and add it in.
///
/// The residual add passes its gradient through unchanged, so its inputs share
/// its gradient buffer instead of copying it: the branch output always can
/// (the add is its only reader); the block input can when its other readers
/// come before the branch output, so they only add to the buffer after the
/// branch has finished reading it.
struct GradientPlan {
    let gradients: [Memory]
    private let consumers: [Int: [Int]]
    private let aliased: Set<Pair>
    private let context: ComputeContext

    private struct Pair: Hashable {
        let layer: Int
        let input: Int
    }

    /// The network input, in `consumers`.
    private static let networkInput = -1

    init(layers: [Layer], descriptors: [MemoryDescriptor], context: ComputeContext) throws(DNNLError) {
        self.context = context
        var consumers: [Int: [Int]] = [:]
        for layer in layers {
            for input in layer.inputs.isEmpty ? [Self.networkInput] : layer.inputs {
                consumers[input, default: []].append(layer.index)
            }
        }
        var owner = Array(repeating: -1, count: layers.count)
        var aliased = Set<Pair>()
        for layer in layers.reversed() {
            if owner[layer.index] < 0 { owner[layer.index] = layer.index }
            guard layer.kind == .add else { continue }
            let a = layer.inputs[0], b = layer.inputs[1]
            if consumers[b] == [layer.index] {
                owner[b] = owner[layer.index]
                aliased.insert(Pair(layer: layer.index, input: b))
            }
            if consumers[a, default: []].allSatisfy({ $0 == layer.index || $0 < b }) {
                owner[a] = owner[layer.index]
                aliased.insert(Pair(layer: layer.index, input: a))
            }
        }
        var memories: [Int: Memory] = [:]
        var gradients: [Memory] = []
        for index in layers.indices {
            let o = owner[index]
            if memories[o] == nil { memories[o] = try Memory(descriptors[o], context: context) }
            gradients.append(memories[o]!)
        }
        self.gradients = gradients
        self.consumers = consumers
        self.aliased = aliased
    }

    private func isFirstContributor(_ layer: Layer, of value: Int) -> Bool {
        consumers[value, default: []].max() == layer.index
    }

    private func gradient(of value: Int, inputGradient: Memory?) -> Memory? {
        value == Self.networkInput ? inputGradient : gradients[value]
    }

    /// Where `layer` writes the gradient of its input `slot`; nil when nobody needs it.
    func sink(for layer: Layer, slot: Int, inputGradient: Memory?, pool: inout ScratchPool) throws(DNNLError) -> GradientSink? {
        let value = layer.inputs.isEmpty ? Self.networkInput : layer.inputs[slot]
        guard let target = gradient(of: value, inputGradient: inputGradient) else { return nil }
        if isFirstContributor(layer, of: value) { return GradientSink(target: target, accumulate: nil) }
        let scratch = try pool.scratch(target.descriptor, purpose: "gradient")
        return GradientSink(target: scratch, accumulate: try Self.addInto(target, scratch, context: context))
    }

    /// How the residual add `layer` hands its gradient to input `slot`.
    func addGradient(for layer: Layer, slot: Int, inputGradient: Memory?) throws(DNNLError) -> AddGradient {
        let value = layer.inputs.isEmpty ? Self.networkInput : layer.inputs[slot]
        if aliased.contains(Pair(layer: layer.index, input: value)) { return .alias }
        guard let target = gradient(of: value, inputGradient: inputGradient) else { return .none }
        let own = gradients[layer.index]
        if isFirstContributor(layer, of: value) {
            let copy = try Primitive(reorderFrom: own.descriptor, to: target.descriptor, context: context)
            copy.bind([(DNNL_ARG_FROM, own), (DNNL_ARG_TO, target)])
            return .primitive(copy)
        }
        return .primitive(try Self.addInto(target, own, context: context))
    }

    /// A binary add, bound as `target += addend`.
    private static func addInto(_ target: Memory, _ addend: Memory, context: ComputeContext) throws(DNNLError) -> Primitive {
        var a = target.descriptor.raw, b = addend.descriptor.raw, dst = target.descriptor.raw
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &a, &b, &dst), "dnnl_binary_desc_init (gradient sum)")
        let primitive = try Primitive(&desc, context: context, name: "gradient sum")
        primitive.bind([(DNNL_ARG_SRC_0, target), (DNNL_ARG_SRC_1, addend), (DNNL_ARG_DST, target)])
        return primitive
    }
}
