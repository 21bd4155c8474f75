public import Core
import CZlib
import Foundation

/// Why the Fashion-MNIST files could not be used.
public enum DatasetError: ClassifiedError {
    case missing(path: String)
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)

    /// The data set is part of the machine's setup, not of the user's input.
    public var kind: ErrorKind {
        switch self {
        case .missing, .unreadable, .malformed: return .environment
        }
    }

    public var description: String {
        switch self {
        case let .missing(path):
            return "\(path) not found: the Fashion-MNIST files come from Debian's package; install them with `apt-get install dataset-fashion-mnist` (or run `make deps`), or point NASD_FASHION_MNIST at a folder holding the four *-ubyte.gz files"
        case let .unreadable(path, reason):
            return "\(path) cannot be read: \(reason)"
        case let .malformed(path, reason):
            return "\(path) is not a valid IDX file (\(reason)); reinstall it with `apt-get install --reinstall dataset-fashion-mnist`"
        }
    }
}

/// Images and labels of one Fashion-MNIST file pair: 28×28 grey bytes.
public struct LabelledImages: Sendable {
    public static let side = 28
    /// count × 28 × 28 bytes, row-major.
    public let pixels: [UInt8]
    public let labels: [UInt8]
    public var count: Int { labels.count }

    public init(pixels: [UInt8], labels: [UInt8]) {
        precondition(pixels.count == labels.count * Self.side * Self.side, "pixels and labels disagree")
        self.pixels = pixels
        self.labels = labels
    }

    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> LabelledImages {
        let area = Self.side * Self.side
        var pixels = [UInt8](repeating: 0, count: indices.count * area)
        pixels.withUnsafeMutableBufferPointer { out in
            self.pixels.withUnsafeBufferPointer { source in
                for (row, i) in indices.enumerated() {
                    out.baseAddress!.advanced(by: row * area).update(from: source.baseAddress!.advanced(by: i * area), count: area)
                }
            }
        }
        return LabelledImages(pixels: pixels, labels: indices.map { labels[$0] })
    }
}

/// Fashion-MNIST as Debian's `dataset-fashion-mnist` installs it (IDX files, gzipped).
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classes = 10
    /// Pixel statistics of the 60k training images, for normalisation.
    public static let mean: Float = 0.2860
    public static let standardDeviation: Float = 0.3530

    public static var directory: String {
        ProcessInfo.processInfo.environment["NASD_FASHION_MNIST"] ?? defaultDirectory
    }

    /// The 60k training images (split into train and validation by `DatasetSplit`).
    public static func training(directory: String = directory) throws(DatasetError) -> LabelledImages {
        try load(images: "\(directory)/train-images-idx3-ubyte.gz", labels: "\(directory)/train-labels-idx1-ubyte.gz")
    }

    /// The 10k test images: read only for final reports (`--test`), never to rank candidates.
    public static func test(directory: String = directory) throws(DatasetError) -> LabelledImages {
        try load(images: "\(directory)/t10k-images-idx3-ubyte.gz", labels: "\(directory)/t10k-labels-idx1-ubyte.gz")
    }

    static func load(images: String, labels: String) throws(DatasetError) -> LabelledImages {
        let imageBytes = try gunzip(images)
        let labelBytes = try gunzip(labels)
        let (imageDims, imageOffset) = try idxHeader(imageBytes, path: images, magic: 0x0000_0803, rank: 3)
        let (labelDims, labelOffset) = try idxHeader(labelBytes, path: labels, magic: 0x0000_0801, rank: 1)
        guard imageDims[1] == LabelledImages.side, imageDims[2] == LabelledImages.side else {
            throw .malformed(path: images, reason: "images are \(imageDims[1])×\(imageDims[2]), expected 28×28")
        }
        guard imageDims[0] == labelDims[0] else {
            throw .malformed(path: labels, reason: "\(labelDims[0]) labels for \(imageDims[0]) images")
        }
        let count = imageDims[0]
        guard imageBytes.count - imageOffset == count * 784, labelBytes.count - labelOffset == count else {
            throw .malformed(path: images, reason: "the file is truncated")
        }
        let labelValues = Array(labelBytes[labelOffset...])
        guard labelValues.allSatisfy({ $0 < classes }) else {
            throw .malformed(path: labels, reason: "a label is outside 0...9")
        }
        return LabelledImages(pixels: Array(imageBytes[imageOffset...]), labels: labelValues)
    }

    /// IDX: a magic number (0, 0, type 0x08 = unsigned byte, rank), then the
    /// dimensions as big-endian 32-bit integers.
    static func idxHeader(_ bytes: [UInt8], path: String, magic: UInt32, rank: Int) throws(DatasetError) -> ([Int], Int) {
        func word(_ at: Int) -> UInt32 {
            bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard bytes.count >= 4 + 4 * rank else { throw .malformed(path: path, reason: "the header is truncated") }
        guard word(0) == magic else {
            throw .malformed(path: path, reason: "magic number \(String(word(0), radix: 16)), expected \(String(magic, radix: 16))")
        }
        return ((0..<rank).map { Int(word(4 + 4 * $0)) }, 4 + 4 * rank)
    }

    static func gunzip(_ path: String) throws(DatasetError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path) }
        guard let file = gzopen(path, "rb") else { throw .unreadable(path: path, reason: "gzopen failed") }
        defer { gzclose(file) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw .unreadable(path: path, reason: "corrupt gzip data") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }
}
