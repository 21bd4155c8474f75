import CDNNL
public import Core

/// A oneDNN call that failed, named with what went wrong.
public struct DNNLError: ClassifiedError {
    public let function: String
    private let status: dnnl_status_t

    init(function: String, status: dnnl_status_t) {
        self.function = function
        self.status = status
    }

    /// Out of memory is the machine's limit (a smaller batch fits); anything else is a fault.
    public var kind: ErrorKind { status == dnnl_out_of_memory ? .environment : .internal }

    public var description: String {
        let reason: String
        switch status {
        case dnnl_out_of_memory: reason = "out of memory; lower the batch size"
        case dnnl_invalid_arguments: reason = "invalid arguments"
        case dnnl_unimplemented: reason = "no implementation for this shape or layout on this CPU"
        case dnnl_runtime_error: reason = "runtime error"
        default: reason = "status \(status.rawValue)"
        }
        return "oneDNN \(function) failed: \(reason)"
    }
}

/// Turns a oneDNN status into a Swift error naming the call.
@inline(__always)
func check(_ status: dnnl_status_t, _ function: @autoclosure () -> String) throws(DNNLError) {
    guard status == dnnl_success else { throw DNNLError(function: function(), status: status) }
}
