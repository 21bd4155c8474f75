import Foundation
public import GSLNumerics

/// Turns images into network input: resized once to the architecture's
/// resolution (bilinear), normalised, then per batch augmented (random crop
/// with 2-pixel zero padding, horizontal flip) with draws from the run's stream.
public struct InputPipeline: Sendable {
    public static let cropPadding = 2

    public let resolution: Int
    public let labels: [UInt8]
    /// count × resolution², normalised.
    private let images: [Float]

    public var count: Int { labels.count }

    /// Resizes every image once. Refuses (rather than die allocating) a set
    /// that would not fit in memory at this resolution.
    public init(_ data: LabelledImages, resolution: Int) throws(TrainingError) {
        let bytes = Double(data.count) * Double(resolution) * Double(resolution) * Double(MemoryLayout<Float>.size)
        guard bytes < 0.75 * Double(ProcessInfo.processInfo.physicalMemory) else {
            throw .inputTooLarge(images: data.count, resolution: resolution, gigabytes: bytes / 1e9)
        }
        self.resolution = resolution
        self.labels = data.labels
        let side = LabelledImages.side
        let area = resolution * resolution
        var images = [Float](repeating: 0, count: data.count * area)
        let taps = Self.bilinearTaps(from: side, to: resolution)
        images.withUnsafeMutableBufferPointer { out in
            data.pixels.withUnsafeBufferPointer { pixels in
                for n in 0..<data.count {
                    let source = pixels.baseAddress! + n * side * side
                    let target = out.baseAddress! + n * area
                    for y in 0..<resolution {
                        let (y0, y1, wy) = taps[y]
                        for x in 0..<resolution {
                            let (x0, x1, wx) = taps[x]
                            let top = Float(source[y0 * side + x0]) * (1 - wx) + Float(source[y0 * side + x1]) * wx
                            let bottom = Float(source[y1 * side + x0]) * (1 - wx) + Float(source[y1 * side + x1]) * wx
                            let value = (top * (1 - wy) + bottom * wy) / 255
                            target[y * resolution + x] = (value - FashionMNIST.mean) / FashionMNIST.standardDeviation
                        }
                    }
                }
            }
        }
        self.images = images
    }

    /// Source taps for each output coordinate, as PyTorch's bilinear
    /// interpolation with align_corners=False (identity when sizes match).
    static func bilinearTaps(from source: Int, to target: Int) -> [(Int, Int, Float)] {
        let scale = Float(source) / Float(target)
        return (0..<target).map { i in
            let x = max(0, (Float(i) + 0.5) * scale - 0.5)
            let x0 = min(Int(x), source - 1)
            let x1 = min(x0 + 1, source - 1)
            return (x0, x1, x - Float(x0))
        }
    }

    /// Writes the images at `indices` as an N×1×r×r batch into `buffer`;
    /// with `augmentation`, each image is shifted by up to 2 pixels each way
    /// (zero fill) and flipped with probability ½: three draws per image.
    public func fill(_ buffer: UnsafeMutableBufferPointer<Float>, indices: ArraySlice<Int>, augmentation: RandomStream?) {
        let r = resolution, area = r * r
        precondition(buffer.count >= indices.count * area, "batch buffer too small")
        images.withUnsafeBufferPointer { images in
            for (row, index) in indices.enumerated() {
                let source = images.baseAddress! + index * area
                let target = buffer.baseAddress! + row * area
                guard let augmentation else {
                    target.update(from: source, count: area)
                    continue
                }
                let dy = augmentation.uniformInt(2 * Self.cropPadding + 1) - Self.cropPadding
                let dx = augmentation.uniformInt(2 * Self.cropPadding + 1) - Self.cropPadding
                let flip = augmentation.uniformInt(2) == 1
                for y in 0..<r {
                    let sy = y + dy
                    for x in 0..<r {
                        let sx = (flip ? r - 1 - x : x) + dx
                        target[y * r + x] = (sy >= 0 && sy < r && sx >= 0 && sx < r) ? source[sy * r + sx] : Self.zero
                    }
                }
            }
        }
    }

    /// Zero padding in normalised units: a black pixel.
    static let zero = (0 - FashionMNIST.mean) / FashionMNIST.standardDeviation
}
