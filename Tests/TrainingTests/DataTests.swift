import Foundation
import GSLNumerics
import Testing
@testable import Training

@Suite("Fashion-MNIST and the input pipeline")
struct DataTests {
    @Test("The real files load: 60k + 10k images, ten balanced classes, a fixed 50k/10k split")
    func realFiles() throws {
        let train = try FashionMNIST.training()
        let test = try FashionMNIST.test()
        #expect(train.count == 60_000 && test.count == 10_000)
        #expect(train.pixels.count == 60_000 * 784)
        var counts = [Int](repeating: 0, count: 10)
        for label in train.labels { counts[Int(label)] += 1 }
        #expect(counts == Array(repeating: 6_000, count: 10))

        let split = DatasetSplit(train)
        #expect(split.train.count == 50_000 && split.validation.count == 10_000)
        let again = DatasetSplit(train)
        #expect(split.validation.labels == again.validation.labels)
        #expect(split.validation.pixels == again.validation.pixels)
    }

    @Test("A missing directory names the Debian package to install")
    func missing() {
        do {
            _ = try FashionMNIST.training(directory: "/nonexistent")
            Issue.record("loaded from nowhere")
        } catch {
            #expect(error.description.contains("apt-get install dataset-fashion-mnist"))
        }
    }

    @Test("Malformed IDX files are rejected with the reason")
    func malformed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nasd-idx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func gzip(_ bytes: [UInt8], _ name: String) throws {
            let raw = "\(dir)/\(name).raw"
            try Data(bytes).write(to: URL(fileURLWithPath: raw))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "gzip -c '\(raw)' > '\(dir)/\(name)'"]
            try p.run()
            p.waitUntilExit()
        }
        let header: (UInt32, [UInt32]) -> [UInt8] = { magic, dims in
            ([magic] + dims).flatMap { w in [24, 16, 8, 0].map { UInt8((w >> $0) & 0xff) } }
        }
        try gzip(header(0x803, [2, 28, 28]) + [UInt8](repeating: 7, count: 2 * 784), "train-images-idx3-ubyte.gz")
        try gzip(header(0x801, [2]) + [1, 9], "train-labels-idx1-ubyte.gz")
        let ok = try FashionMNIST.training(directory: dir)
        #expect(ok.count == 2 && ok.labels == [1, 9])

        try gzip(header(0x801, [2]) + [1, 12], "train-labels-idx1-ubyte.gz")
        #expect(throws: DatasetError.self) { try FashionMNIST.training(directory: dir) }
        try gzip(header(0x802, [2]) + [1, 2], "train-labels-idx1-ubyte.gz")
        #expect(throws: DatasetError.self) { try FashionMNIST.training(directory: dir) }
        try gzip(header(0x803, [2, 28, 28]) + [UInt8](repeating: 7, count: 700), "train-images-idx3-ubyte.gz")
        try gzip(header(0x801, [2]) + [1, 2], "train-labels-idx1-ubyte.gz")
        do { _ = try FashionMNIST.training(directory: dir) } catch { #expect(error.description.contains("truncated")) }
    }

    static func gradient(count: Int) -> LabelledImages {
        LabelledImages(pixels: (0..<count * 784).map { UInt8($0 % 784 / 28 * 9 % 256) }, labels: (0..<count).map { UInt8($0 % 10) })
    }

    @Test("At 28 pixels the pipeline only normalises; other resolutions resize bilinearly")
    func resize() throws {
        let images = Self.gradient(count: 2)
        let same = try InputPipeline(images, resolution: 28)
        var buffer = [Float](repeating: 0, count: 2 * 784)
        buffer.withUnsafeMutableBufferPointer { same.fill($0, indices: [0, 1], augmentation: nil) }
        for i in 0..<784 {
            let expected = (Float(images.pixels[i]) / 255 - FashionMNIST.mean) / FashionMNIST.standardDeviation
            #expect(abs(buffer[i] - expected) < 1e-6)
        }
        // Rows are constant in this image, so a resized row is constant too and
        // values stay within the source's range.
        let small = try InputPipeline(images, resolution: 20)
        var out = [Float](repeating: 0, count: 400)
        out.withUnsafeMutableBufferPointer { small.fill($0, indices: [0], augmentation: nil) }
        for y in 0..<20 { #expect(Set(out[(y * 20)..<(y * 20 + 20)]).count == 1) }
        #expect(out.min()! >= buffer[0..<784].min()! && out.max()! <= buffer[0..<784].max()!)
    }

    @Test("Augmentation is drawn from its stream: same state, same batch")
    func augmentation() throws {
        let pipeline = try InputPipeline(Self.gradient(count: 8), resolution: 28)
        let a = RandomStream(seed: 4, name: "augmentation"), b = RandomStream(seed: 4, name: "augmentation")
        var x = [Float](repeating: 0, count: 8 * 784), y = x, plain = x
        x.withUnsafeMutableBufferPointer { pipeline.fill($0, indices: Array(0..<8)[...], augmentation: a) }
        y.withUnsafeMutableBufferPointer { pipeline.fill($0, indices: Array(0..<8)[...], augmentation: b) }
        plain.withUnsafeMutableBufferPointer { pipeline.fill($0, indices: Array(0..<8)[...], augmentation: nil) }
        #expect(x == y)
        #expect(x != plain)
    }
}
