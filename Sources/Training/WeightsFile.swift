public import Core
import CZlib
public import Engine
import Foundation
public import Model
public import SearchSpace

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
/// Tensor names and shapes are `TensorName`'s: "<layer>.weight" (conv OIHW,
/// grouped GOIHW; linear O×I×1×1), "<layer>.bias", "<layer>.scale" and
/// "<layer>.shift" (BN γ, β), and "<layer>.running_mean" and
/// "<layer>.running_var" (BN statistics; the variance is unbiased, as PyTorch
/// keeps it). Layer names are the IR's.
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
        try self.init(weights: network.weights(), architecture: architecture)
    }

    /// Stores `weights`, tensors in the IR's layer order (parameters, then BN statistics).
    public init(weights: NetworkWeights, architecture: Architecture) {
        let network = Network(architecture)
        var tensors: [Tensor] = []
        var data: [Float] = []
        for name in weights.tensors.keys.sorted(by: { Self.order($0, network) < Self.order($1, network) }) {
            let values = weights[name]!
            tensors.append(Tensor(name: name, shape: Self.shape(name, network) ?? [values.count], offset: data.count,
                                  count: values.count))
            data += values
        }
        self.architecture = architecture.description
        self.tensors = tensors
        self.data = data
    }

    /// Sort key: the layer's index, then the tensor's role (unknown names last, by name).
    private static func order(_ name: String, _ network: Network) -> (Int, Int, String) {
        guard let tensor = TensorName(parsing: name), let layer = network.layers.first(where: { $0.name == tensor.layer }) else {
            return (Int.max, Int.max, name)
        }
        return (layer.index, tensor.role.position, name)
    }

    /// The plain shape the format documents for a tensor.
    private static func shape(_ name: String, _ network: Network) -> [Int]? {
        guard let tensor = TensorName(parsing: name), let layer = network.layers.first(where: { $0.name == tensor.layer }) else {
            return nil
        }
        return TensorName.plainShape(of: tensor.role, in: layer)
    }

    /// The tensors as `NetworkWeights`.
    public var weights: NetworkWeights {
        NetworkWeights(tensors: Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, Array(data[$0.offset..<($0.offset + $0.count)])) }))
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
        do { try Data(file).write(to: URL(fileURLWithPath: temporary)) } catch {
            throw WeightsFileError.unwritable(path: path, reason: (error as NSError).localizedDescription)
        }
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
        // The checksum covers the data only: the header's numbers are checked one by one.
        guard header.tensors.allSatisfy({ $0.offset >= 0 && $0.count >= 0 && $0.offset <= floats.count - $0.count }) else {
            throw .damaged(path: path, reason: "a tensor lies outside the data")
        }
        guard Set(header.tensors.map(\.name)).count == header.tensors.count else {
            throw .damaged(path: path, reason: "a tensor is listed twice")
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
        try network.load(weights)
    }
}

public enum WeightsFileError: ClassifiedError {
    case unreadable(path: String)
    case notWeights(path: String)
    case damaged(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var kind: ErrorKind {
        switch self {
        case .unreadable: return .notFound
        case .notWeights, .unwritable: return .invalidInput
        case .damaged: return .damaged
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(path): return "\(path): cannot be read"
        case let .notWeights(path): return "\(path): not a nasd weights file (written by `nas train --save`)"
        case let .damaged(path, reason): return "\(path): damaged weights file (\(reason)); train again with --save"
        case let .unwritable(path, reason): return "\(path): cannot be written (\(reason))"
        }
    }
}
