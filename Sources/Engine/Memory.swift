import CDNNL

/// oneDNN's `dnnl_dims_t` argument: up to 12 dims, the rest zero.
func dnnlDims(_ dims: [Int]) -> [Int64] {
    dims.map(Int64.init) + Array(repeating: 0, count: max(0, 12 - dims.count))
}

/// A oneDNN memory descriptor: dims, data type and layout, by value.
struct MemoryDescriptor {
    var raw: dnnl_memory_desc_t

    init(_ raw: dnnl_memory_desc_t) { self.raw = raw }

    /// f32 dims in the given layout (`dnnl_format_tag_any` lets a primitive choose).
    init(dims: [Int], tag: dnnl_format_tag_t) throws(DNNLError) {
        var md = dnnl_memory_desc_t()
        let d = dnnlDims(dims)
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), d, dnnl_f32, tag), "dnnl_memory_desc_init_by_tag")
        raw = md
    }

    /// Bytes the layout occupies, padding included.
    var byteCount: Int {
        withUnsafePointer(to: raw) { dnnl_memory_desc_get_size($0) }
    }

    static func == (a: MemoryDescriptor, b: MemoryDescriptor) -> Bool {
        withUnsafePointer(to: a.raw) { pa in withUnsafePointer(to: b.raw) { pb in dnnl_memory_desc_equal(pa, pb) != 0 } }
    }
}

/// One oneDNN memory object and the buffer it owns.
final class Memory {
    private let handle: dnnl_memory_t
    let descriptor: MemoryDescriptor
    unowned let context: ComputeContext

    init(_ descriptor: MemoryDescriptor, context: ComputeContext) throws(DNNLError) {
        var md = descriptor.raw
        var memory: dnnl_memory_t?
        // DNNL_MEMORY_ALLOCATE is ((void *)(size_t)-1) in C, which Swift does not import.
        let allocate = UnsafeMutableRawPointer(bitPattern: UInt.max)
        try check(dnnl_memory_create(&memory, &md, context.engine, allocate), "dnnl_memory_create")
        self.handle = memory!
        self.descriptor = descriptor
        self.context = context
        // Padded lanes of blocked layouts must be zero for the math to hold;
        // start every buffer at zero.
        pointer.initialize(repeating: 0, count: floatCount)
    }

    deinit { dnnl_memory_destroy(handle) }

    /// The buffer as floats; valid while this object lives.
    var pointer: UnsafeMutablePointer<Float> {
        var data: UnsafeMutableRawPointer?
        dnnl_memory_get_data_handle(handle, &data)
        return data!.assumingMemoryBound(to: Float.self)
    }

    /// Floats in the buffer, padding included.
    var floatCount: Int { descriptor.byteCount / MemoryLayout<Float>.stride }

    /// This memory as the execution argument `kind` (DNNL_ARG_SRC, …) of a primitive.
    func argument(_ kind: Int32) -> dnnl_exec_arg_t { dnnl_exec_arg_t(arg: kind, memory: handle) }

    /// The whole buffer, padding included; valid while this object lives.
    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: floatCount) }

    func zero() { pointer.update(repeating: 0, count: floatCount) }
}
