import Foundation
import Engine
import Latency
import Model
import GSLNumerics
import SearchSpace
import Testing

/// Counts measurements and can pose as another device.
final class CountingEngine: LatencyEngine {
    let inner: CPUEngine
    let device: DeviceFingerprint
    private(set) var measurements = 0

    init(device: DeviceFingerprint? = nil) throws {
        inner = try CPUEngine(threads: 1)
        self.device = device ?? inner.device
    }

    func measure(_ network: Network, protocol measurement: MeasurementProtocol, weights: NetworkWeights?) throws -> LatencySample {
        measurements += 1
        return try inner.measure(network, protocol: measurement, weights: weights)
    }
}

@Suite("Latency table and predictor", .serialized)
struct LatencyTableTests {
    static func temporaryDatabase() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("nasd-latency-\(UUID().uuidString)/latency.sqlite").path
    }

    static func tinyArchitectures(_ count: Int, seed: UInt64) throws -> [Architecture] {
        let space = try SearchSpace(contentsOf: "\(root)/SearchSpaces/tiny.yaml")
        return space.sample(count: count, from: RandomStream(seed: seed, name: "latency-fit"))
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func quick(_ predictor: LatencyPredictor) {
        predictor.unitProtocol = MeasurementProtocol(warmup: 3, runs: 15, attempts: 1)
        predictor.networkProtocol = MeasurementProtocol(warmup: 3, runs: 25, attempts: 1)
    }

    @Test("Each distinct unit is measured once and kept across reopening; predictions follow measurements")
    func buildAndPredict() throws {
        let path = Self.temporaryDatabase()
        let engine = try CountingEngine()
        let predictor = try LatencyPredictor(store: try LatencyStore(path: path), engine: engine)
        Self.quick(predictor)
        let archs = try Self.tinyArchitectures(8, seed: 1)
        for arch in archs {
            _ = try predictor.unitLatencies(arch)
            _ = try predictor.measuredLatency(arch)
        }
        let units = try predictor.store.operatorCount(device: engine.device)
        let distinct = Set(archs.flatMap { arch -> [String] in
            let network = Network(arch)
            return network.units.map { LatencyPredictor.key(network.unit($0)!) }
        })
        #expect(units == distinct.count)
        #expect(engine.measurements == distinct.count + archs.count)
        let coefficients = try predictor.fit()
        #expect(coefficients.count == 3)

        // Reopened, nothing is measured again: the build resumes where it stopped.
        let again = try CountingEngine()
        let reopened = try LatencyPredictor(store: try LatencyStore(path: path), engine: again)
        for arch in archs {
            _ = try reopened.unitLatencies(arch)
            _ = try reopened.measuredLatency(arch)
        }
        #expect(again.measurements == 0)
        // A quick protocol (15–25 timed runs of ~0.03 ms networks, debug build, a shared machine):
        // one network can be off by half, so the fit is judged on all eight: the typical error
        // small, none off by a factor of two.
        var errors: [Double] = []
        for arch in archs {
            let predicted = try reopened.predict(arch)
            let measured = try reopened.measuredLatency(arch)
            #expect(predicted > 0)
            errors.append(abs(predicted - measured) / measured)
            #expect(errors.last! < 1, "\(arch): predicted \(predicted), measured \(measured)")
        }
        #expect(errors.sorted()[errors.count / 2] < 0.3, "relative errors \(errors)")
    }

    @Test("Figures are keyed by fingerprint: another device sees none of them")
    func keying() throws {
        let path = Self.temporaryDatabase()
        let arch = try Self.tinyArchitectures(1, seed: 2)[0]
        let here = try LatencyPredictor(store: try LatencyStore(path: path), engine: try CountingEngine())
        Self.quick(here)
        _ = try here.unitLatencies(arch)
        var other = DeviceFingerprint.cpu(threads: 1)
        other.device = "another CPU"
        let elsewhere = try CountingEngine(device: other)
        let there = try LatencyPredictor(store: try LatencyStore(path: path), engine: elsewhere)
        Self.quick(there)
        #expect(try there.store.operatorCount(device: other) == 0)
        #expect(throws: LatencyStoreError.self) { try there.predict(arch) }
        _ = try there.unitLatencies(arch)
        #expect(elsewhere.measurements == Network(arch).units.count)
    }

    @Test("A damaged table file is reported with what to do, never used")
    func damaged() throws {
        let path = Self.temporaryDatabase()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(repeating: 0x5a, count: 4096).write(to: URL(fileURLWithPath: path))
        do {
            _ = try LatencyStore(path: path)
            Issue.record("a damaged file was opened")
        } catch {
            #expect("\(error)".contains("not a usable latency table"))
        }
    }

    @Test("Unit keys: equal configurations share a key, different ones do not")
    func keys() throws {
        let a = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|sep_r2_k3_s2_o16|mb_r1_k5f_s1_e3_o16_se0.25|head_o32"))
        let b = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|sep_r2_k3_s2_o16|mb_r1_k5s_s1_e3_o16_se0.25|head_o32"))
        let key = { (n: Network, u: String) in LatencyPredictor.key(n.unit(u)!) }
        #expect(key(a, "stem") == key(b, "stem"))
        #expect(key(a, "b1.2") == key(b, "b1.2"))
        #expect(key(a, "b2.1") != key(b, "b2.1"))
        #expect(key(a, "b1.1") != key(a, "b1.2"))  // stride 2 vs 1
        #expect(a.units == ["stem", "b1.1", "b1.2", "b2.1", "head"])
    }

    @Test("Least squares recovers a known linear relation (GSL)")
    func leastSquares() throws {
        let rows = (0..<20).map { i in [Double(i), Double(i * i % 7), 1] }
        let targets = rows.map { 2 * $0[0] - 0.5 * $0[1] + 3 }
        let fit = try #require(try LeastSquares.fit(rows: rows, targets: targets))
        for (c, expected) in zip(fit.coefficients, [2, -0.5, 3]) { #expect(abs(c - expected) < 1e-9) }
        #expect(try LeastSquares.fit(rows: [[1, 2]], targets: [1]) == nil)
    }

    @Test("Validation report: shares within ±10% and ±5%, RMSE and worst error in percent")
    func validationReport() {
        let report = ValidationReport(measured: [1, 1, 1, 1], predicted: [1.02, 0.93, 1.2, 1])
        #expect(report.samples == 4)
        #expect(report.within10Percent == 0.75)
        #expect(report.within5Percent == 0.5)
        #expect(abs(report.maxAbsoluteErrorPercent - 20) < 1e-9)
    }
}
