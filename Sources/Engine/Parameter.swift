import CDNNL
public import Model
import SearchSpace

/// A trainable tensor: its value and gradient in the layout the primitive
/// chose, and how to read it out plainly (for checkpoints and export).
public final class Parameter {
    public enum Role: String, Sendable {
        case convolutionWeight = "conv_weight"
        case linearWeight = "linear_weight"
        case bias
        case batchNormScale = "bn_scale"
        case batchNormShift = "bn_shift"
    }

    public let name: TensorName
    public let role: Role
    /// The plain shape (`TensorName.plainShape`).
    public let dims: [Int]
    private let plainTag: dnnl_format_tag_t
    let value: Memory
    let gradient: Memory

    /// Weight decay applies to conv and linear weights only.
    public var decays: Bool { role == .convolutionWeight || role == .linearWeight }

    init(name: TensorName, role: Role, in layer: Layer, layout: MemoryDescriptor, context: ComputeContext) throws(DNNLError) {
        self.name = name
        self.role = role
        self.dims = TensorName.plainShape(of: name.role, in: layer)
        self.plainTag = switch dims.count {
        case 5: dnnl_goihw
        case 4: dnnl_oihw
        default: dnnl_a
        }
        self.value = try Memory(layout, context: context)
        self.gradient = try Memory(layout, context: context)
    }

    /// Number of real (unpadded) elements.
    public var count: Int { dims.reduce(1, *) }

    /// The value in plain layout.
    public func values() throws(DNNLError) -> [Float] { try value.plain(dims: dims, tag: plainTag) }

    public func setValues(_ values: [Float]) throws(DNNLError) { try value.setPlain(values, dims: dims, tag: plainTag) }

    /// The gradient of the last backward pass, in plain layout.
    public func gradients() throws(DNNLError) -> [Float] { try gradient.plain(dims: dims, tag: plainTag) }

    /// Elements in the primitive's layout, padding included.
    public var storageCount: Int { value.floatCount }

    /// The value and the gradient as the primitive lays them out, padding
    /// included (zero there), for element-wise optimisers: padded lanes have
    /// zero gradient, so they stay zero. The buffers are valid inside `body`
    /// only, and (`package`) never leave nasd's own modules.
    package func withStorage<Result>(
        _ body: (_ values: UnsafeMutableBufferPointer<Float>, _ gradients: UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(value.buffer, UnsafeBufferPointer(gradient.buffer))
    }

    /// Fills the value (in the primitive's layout) with `x`; for BN's γ = 1.
    func fill(_ x: Float) { value.buffer.update(repeating: x) }
}
