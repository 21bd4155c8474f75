import CDNNL
import Core

/// The CPU engine and stream every primitive runs on, with the OpenMP thread
/// count fixed once. One per process is enough; primitives keep a reference.
public final class ComputeContext {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    /// OpenMP threads oneDNN uses (set explicitly, never inherited).
    public let threads: Int
    /// Primitives created on this context that fell back to oneDNN's reference
    /// kernels (no optimised implementation for that shape and layout).
    public internal(set) var referenceKernels: [String] = []

    /// - Parameter threads: OpenMP threads for oneDNN. Calls into oneDNN must
    ///   come from the thread that created the context.
    public init(threads: Int) throws {
        // OpenMP asked for tens of thousands of threads exhausts their stacks and crashes.
        try Limits.threads.check(threads, "the OpenMP thread count")
        self.threads = threads
        _ = nasd_omp_set_num_threads(Int32(threads))
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.engine = engine!
        self.stream = stream!
    }

    /// OpenMP's thread count belongs to the calling thread, not to a context:
    /// two contexts with different counts (training on 2, latency on 1) would
    /// otherwise leave whichever was created last in force. Every network
    /// re-asserts its context's count before building or running primitives.
    func activate() {
        if nasd_omp_get_max_threads() != Int32(threads) { _ = nasd_omp_set_num_threads(Int32(threads)) }
    }

    /// The OpenMP thread count in force on the calling thread.
    public static var threadsInForce: Int { Int(nasd_omp_get_max_threads()) }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Waits until every primitive submitted so far has finished.
    public func wait() throws(DNNLError) {
        try check(dnnl_stream_wait(stream), "dnnl_stream_wait")
    }

    /// "2.6.3"
    public static var oneDNNVersion: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN dispatches to on this CPU, e.g. "avx512_core".
    public static var isa: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx512_mic: return "avx512_mic"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        default: return "other"
        }
    }
}
