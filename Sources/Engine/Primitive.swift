import CDNNL

/// One oneDNN primitive and its descriptor, created once per shape and
/// executed many times with arguments fixed at creation.
final class Primitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    unowned let context: ComputeContext
    let name: String
    private var arguments: [dnnl_exec_arg_t] = []
    /// Keeps the memories the arguments point to alive.
    private var bound: [Memory] = []

    /// Creates the primitive for an operation descriptor (`dnnl_convolution_desc_t`, …).
    convenience init<OpDescriptor>(_ op: inout OpDescriptor, context: ComputeContext, hint: Primitive? = nil,
                       attributes: dnnl_primitive_attr_t? = nil, name: String) throws(DNNLError) {
        var pd: dnnl_primitive_desc_t?
        let status = withUnsafeMutablePointer(to: &op) { opPointer in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(opPointer), attributes, context.engine, hint?.descriptor)
        }
        try check(status, "dnnl_primitive_desc_create (\(name))")
        try self.init(descriptor: pd!, context: context, name: name)
    }

    /// A reorder between two layouts.
    convenience init(reorderFrom source: MemoryDescriptor, to destination: MemoryDescriptor,
                     context: ComputeContext) throws(DNNLError) {
        var pd: dnnl_primitive_desc_t?
        var src = source.raw, dst = destination.raw
        try check(dnnl_reorder_primitive_desc_create(&pd, &src, context.engine, &dst, context.engine, nil),
                  "dnnl_reorder_primitive_desc_create")
        try self.init(descriptor: pd!, context: context, name: "reorder")
    }

    private init(descriptor: dnnl_primitive_desc_t, context: ComputeContext, name: String) throws(DNNLError) {
        var primitive: dnnl_primitive_t?
        let status = dnnl_primitive_create(&primitive, descriptor)
        if status != dnnl_success {
            dnnl_primitive_desc_destroy(descriptor)
            throw DNNLError(function: "dnnl_primitive_create (\(name))", status: status)
        }
        self.descriptor = descriptor
        self.primitive = primitive!
        self.context = context
        self.name = name
        if isReference { context.referenceKernels.append("\(name) (\(implementation))") }
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// oneDNN's name for the implementation it picked, e.g. "jit_dw:avx512_core"
    /// or "ref:any" (a reference kernel: correct, and orders of magnitude slower).
    var implementation: String {
        var text: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &text)
        return text.map { String(cString: $0) } ?? "unknown"
    }

    var isReference: Bool { implementation.hasPrefix("ref") }

    /// The layout the primitive chose for one of its memories.
    func memoryDescriptor(_ query: dnnl_query_t, _ index: Int32 = 0) -> MemoryDescriptor {
        MemoryDescriptor(dnnl_primitive_desc_query_md(descriptor, query, index)!.pointee)
    }

    /// Fixes the arguments every later `execute()` uses.
    func bind(_ arguments: [(Int32, Memory)]) {
        bound = arguments.map(\.1)
        self.arguments = arguments.map { $0.1.argument($0.0) }
    }

    func execute() throws(DNNLError) {
        let status = arguments.withUnsafeBufferPointer { args in
            dnnl_primitive_execute(primitive, context.stream, Int32(args.count), args.baseAddress)
        }
        try check(status, "dnnl_primitive_execute (\(name))")
    }

    /// Binds and runs once (for reorders and other one-off work).
    func execute(_ arguments: [(Int32, Memory)]) throws(DNNLError) {
        bind(arguments)
        try execute()
    }
}

extension Memory {
    /// Copies `source` into this memory, converting between layouts.
    func assign(from source: Memory) throws(DNNLError) {
        let reorder = try Primitive(reorderFrom: source.descriptor, to: descriptor, context: context)
        try reorder.execute([(DNNL_ARG_FROM, source), (DNNL_ARG_TO, self)])
        try context.wait()
    }

    /// The contents as plain floats in the layout `tag` (e.g. nchw), for reading out.
    func plain(dims: [Int], tag: dnnl_format_tag_t) throws(DNNLError) -> [Float] {
        let out = try Memory(MemoryDescriptor(dims: dims, tag: tag), context: context)
        try out.assign(from: self)
        return Array(UnsafeBufferPointer(start: out.pointer, count: dims.reduce(1, *)))
    }

    /// Overwrites the contents from plain floats laid out as `tag`.
    func setPlain(_ values: [Float], dims: [Int], tag: dnnl_format_tag_t) throws(DNNLError) {
        precondition(values.count == dims.reduce(1, *), "expected \(dims.reduce(1, *)) values, got \(values.count)")
        let source = try Memory(MemoryDescriptor(dims: dims, tag: tag), context: context)
        source.pointer.update(from: values, count: values.count)
        try assign(from: source)
    }
}
