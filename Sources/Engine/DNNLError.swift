import CDNNL

/// A oneDNN call that failed, named with its status.
public struct DNNLError: Error, CustomStringConvertible {
    public let function: String
    public let status: dnnl_status_t

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
