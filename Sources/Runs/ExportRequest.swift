public import Core
import Foundation
import Model

/// What a user asks of an export: `nas export`'s options, or the body of the
/// daemon's `POST /runs/{run}/exports`, checked here for both (as
/// `SearchRequest` is for searches), each refusal naming the field as the
/// caller spells it.
public struct ExportRequest: Sendable {
    public var pareto = false
    public var top: Int?
    public var hashes: [String] = []
    public var formats = ["onnx", "ncnn"]
    public var weights = ["fp32"]
    public var epochs = 5
    public var subset: Int?
    public var threads = RunsFolder.machineCores
    public var launches = 3

    public init() {}

    /// The options, once every name and range is checked.
    public func options(_ spelling: SearchRequest.Spelling) throws(InvalidField) -> ExportOptions {
        let name = spelling.name
        for weight in weights where WeightPrecision(rawValue: weight) == nil {
            throw InvalidField(field: name("weights"), message: "\(name("weights")): unknown precision '\(weight)'; expected fp32, fp16 and int8")
        }
        for format in formats where ExportFormat(rawValue: format) == nil {
            throw InvalidField(field: name("formats"), message: "\(name("formats")): unknown format '\(format)'; expected onnx, ncnn or both")
        }
        if weights.contains("int8") && !formats.contains("onnx") {
            throw InvalidField(field: name("weights"), message: "\(name("weights")) int8 is written as ONNX only (ncnn stores fp32 or fp16): add onnx to \(name("formats"))")
        }
        if [pareto, top != nil, !hashes.isEmpty].filter({ $0 }).count > 1 {
            throw InvalidField(field: name("top"), message: "choose one of \(name("pareto")), \(name("top")) K and \(name("arch")) HASH…")
        }
        var options = ExportOptions()
        options.selection = top.map { .top($0) } ?? (hashes.isEmpty ? .pareto : .hashes(hashes))
        options.formats = ExportFormat.allCases.filter { formats.contains($0.rawValue) }
        options.variants = WeightPrecision.allCases.filter { $0 != .fp32 && weights.contains($0.rawValue) }
        options.epochs = epochs
        options.subset = subset
        options.threads = threads
        options.latencyLaunches = launches
        do { try options.validate() } catch {
            // The options name their fields in the CLI's spelling; find which it was.
            let field = ["epochs", "subset", "threads", "launches", "top", "formats"].first {
                error.message.contains(SearchRequest.Spelling.option.name($0))
            } ?? "body"
            throw InvalidField(field: name(field), message: spelling == .option ? error.message
                               : error.message.replacingOccurrences(of: "--", with: ""), kind: error.kind)
        }
        return options
    }
}
