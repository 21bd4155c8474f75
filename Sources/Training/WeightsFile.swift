import CZlib
import Engine
import Foundation
import SearchSpace

/// Trained weights and BN statistics of one architecture, as `nas train --save` writes them.
///
/// Format (little-endian):
///
///     "NASDWTS1"                 8 bytes, magic and version
///     header length              UInt32
///     header                     JSON: {"format": "nasd-weights", "version": 1,
///                                "arch", "hash", "crc32" (of the data),
///                                "tensors": [{"name", "shape", "offset", "count"}]}
///     data                       float32 values, each tensor at its offset (in floats)
///
/// Tensor names: "<layer>.weight" (conv OIHW, grouped GOIHW; linear O×I×1×1),
/// "<layer>.bias", "<layer>.scale" and "<layer>.shift" (BN γ, β), and
/// "<layer>.running_mean" and "<layer>.running_var" (BN statistics; the
/// variance is unbiased, as PyTorch keeps it). Layer names are the IR's.
public struct WeightsFile: Sendable {
    public static let magic = Array("NASDWTS1".utf8)

    public struct Tensor: Codable, Sendable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int
    }

    struct Header: Codable {
        var format = "nasd-weights"
        var version = 1
        var arch: String
        var hash: String
        var crc32: UInt32
        var tensors: [Tensor]
    }

    public let architecture: String
    public let tensors: [Tensor]
    public let data: [Float]

    public func values(_ name: String) -> [Float]? {
        tensors.first { $0.name == name }.map { Array(data[$0.offset..<($0.offset + $0.count)]) }
    }

    /// Collects every parameter and BN statistic of a trained network.
    public init(network: TrainingNetwork, architecture: Architecture) throws(DNNLError) {
        var tensors: [Tensor] = []
        var data: [Float] = []
        func append(_ name: String, _ shape: [Int], _ values: [Float]) {
            tensors.append(Tensor(name: name, shape: shape, offset: data.count, count: values.count))
            data += values
        }
        for parameter in network.parameters { append(parameter.name, parameter.dims, try parameter.values()) }
        for (name, mean, variance) in network.runningStatistics() {
            append("\(name).running_mean", [mean.count], mean)
            append("\(name).running_var", [variance.count], variance)
        }
        self.architecture = architecture.description
        self.tensors = tensors
        self.data = data
    }

    public func write(to path: String) throws {
        let bytes = data.withUnsafeBytes { Array($0) }
        let checksum = bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        let arch = try Architecture(parsing: architecture)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = try encoder.encode(Header(arch: architecture, hash: arch.hash, crc32: checksum, tensors: tensors))
        var file = Self.magic
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { file += $0 }
        file += header
        file += bytes
        // Write beside the target and rename: a crash never leaves a half-written file under the name.
        let temporary = path + ".partial"
        try Data(file).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw WeightsFileError.unwritable(path: path, reason: String(cString: strerror(errno)))
        }
    }

    public static func read(from path: String) throws(WeightsFileError) -> WeightsFile {
        guard let contents = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        let bytes = [UInt8](contents)
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else { throw .notWeights(path: path) }
        let headerLength = Int(bytes[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard 12 + headerLength <= bytes.count,
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + headerLength)])) else {
            throw .damaged(path: path, reason: "the header is truncated or not JSON")
        }
        let payload = Array(bytes[(12 + headerLength)...])
        let checksum = payload.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        guard payload.count % 4 == 0, checksum == header.crc32 else {
            throw .damaged(path: path, reason: "the data does not match its checksum")
        }
        let floats = payload.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        guard header.tensors.allSatisfy({ $0.offset >= 0 && $0.offset + $0.count <= floats.count }) else {
            throw .damaged(path: path, reason: "a tensor lies outside the data")
        }
        return WeightsFile(architecture: header.arch, tensors: header.tensors, data: floats)
    }

    init(architecture: String, tensors: [Tensor], data: [Float]) {
        self.architecture = architecture
        self.tensors = tensors
        self.data = data
    }

    /// Loads these weights into a network of the same architecture.
    public func load(into network: TrainingNetwork) throws {
        for parameter in network.parameters {
            guard let values = values(parameter.name), values.count == parameter.count else {
                throw WeightsFileError.mismatch(tensor: parameter.name)
            }
            try parameter.setValues(values)
        }
        for (name, _, _) in network.runningStatistics() {
            guard let mean = values("\(name).running_mean"), let variance = values("\(name).running_var") else {
                throw WeightsFileError.mismatch(tensor: "\(name).running_mean")
            }
            network.setRunningStatistics(name: name, mean: mean, variance: variance)
        }
    }
}

public enum WeightsFileError: Error, CustomStringConvertible {
    case unreadable(path: String)
    case notWeights(path: String)
    case damaged(path: String, reason: String)
    case mismatch(tensor: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path): return "\(path): cannot be read"
        case let .notWeights(path): return "\(path): not a nasd weights file (written by `nas train --save`)"
        case let .damaged(path, reason): return "\(path): damaged weights file (\(reason)); train again with --save"
        case let .unwritable(path, reason): return "\(path): cannot be written (\(reason))"
        case let .mismatch(tensor): return "the weights file has no tensor '\(tensor)' of the right size: it was saved for another architecture"
        }
    }
}
