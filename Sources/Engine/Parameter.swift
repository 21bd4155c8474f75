import CDNNL

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

    /// "<layer name>.weight", "<layer name>.bias", "<layer name>.scale", "<layer name>.shift".
    public let name: String
    public let role: Role
    /// The plain shape: OIHW for convolutions (GOIHW grouped), OI for linear, C otherwise.
    public let dims: [Int]
    let plainTag: dnnl_format_tag_t
    let value: Memory
    let gradient: Memory

    /// Weight decay applies to conv and linear weights only.
    public var decays: Bool { role == .convolutionWeight || role == .linearWeight }

    init(name: String, role: Role, dims: [Int], plainTag: dnnl_format_tag_t, layout: MemoryDescriptor,
         context: ComputeContext) throws(DNNLError) {
        self.name = name
        self.role = role
        self.dims = dims
        self.plainTag = plainTag
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

    /// The raw buffers (padding included, zero there) for element-wise optimisers:
    /// padded lanes have zero gradient, so they stay zero.
    public var storageCount: Int { value.floatCount }
    public var valueStorage: UnsafeMutablePointer<Float> { value.pointer }
    public var gradientStorage: UnsafeMutablePointer<Float> { gradient.pointer }
}
