public import Core
import Engine
import Foundation
import GSLNumerics
public import SearchSpace

/// Predicts a network's latency from a table of its operator units' latencies,
/// measured once per distinct configuration and engine+device, plus a linear
/// correction fitted by least squares on measured networks:
///
///     predicted = c₀ · Σ unit latencies + c₁ · units + c₂
///
/// (isolated units each pay the fixed cost of a run; a whole network pays it once).
public final class LatencyPredictor {
    public let store: LatencyStore
    public let engine: any LatencyEngine
    public var unitProtocol = MeasurementProtocol(warmup: 20, runs: 100)
    public var networkProtocol = MeasurementProtocol(warmup: 30, runs: 200)

    public init(store: LatencyStore, engine: any LatencyEngine) throws {
        self.store = store
        self.engine = engine
        try store.register(engine.device)
    }

    /// The configuration of a unit, as the table keys it: its input shape and,
    /// per layer, kind, kernel, stride, groups, output shape and inputs.
    public static func key(_ unit: Network) -> String {
        let i = unit.input
        return "\(i.channels)x\(i.height)x\(i.width)|" + unit.layers.map { l in
            "\(l.kind.rawValue):\(l.kernel.height)x\(l.kernel.width):s\(l.stride):g\(l.groups)"
                + ":\(l.outputShape.channels)x\(l.outputShape.height)x\(l.outputShape.width):\(l.inputs.map(String.init).joined(separator: ","))"
        }.joined(separator: ";")
    }

    /// Latency of each unit of `architecture`, measuring the ones not in the table.
    public func unitLatencies(_ architecture: Architecture) throws -> [Double] {
        try unitLatencies(Network(architecture))
    }

    /// Latency of each unit of a decoded network, measuring the ones not in the table.
    public func unitLatencies(_ network: Network) throws -> [Double] {
        try network.units.map { name in
            let unit = network.unit(name)!
            let key = Self.key(unit)
            if let known = try store.operatorLatency(key, device: engine.device) { return known }
            let sample = try engine.measure(unit, protocol: unitProtocol)
            try store.recordOperator(key, device: engine.device, sample: sample)
            return sample.medianMilliseconds
        }
    }

    public func features(_ network: Network) throws -> [Double] {
        let units = try unitLatencies(network)
        return [units.reduce(0, +), Double(units.count), 1]
    }

    /// The measured latency of the whole network (cached in the table).
    public func measuredLatency(_ architecture: Architecture) throws -> Double {
        try measuredLatency(Network(architecture))
    }

    /// The measured latency of a decoded network (cached in the table).
    public func measuredLatency(_ network: Network) throws -> Double {
        let arch = network.architecture.description
        if let known = try store.networkLatency(arch, device: engine.device) { return known }
        let sample = try engine.measure(network, protocol: networkProtocol)
        try store.recordNetwork(arch, device: engine.device, sample: sample)
        return sample.medianMilliseconds
    }

    /// Fits the correction on every network measured for this device.
    @discardableResult
    public func fit() throws -> [Double] {
        let measured = try store.networks(device: engine.device)
        var rows: [[Double]] = []
        for (arch, _) in measured { rows.append(try features(Network(try Architecture(parsing: arch)))) }
        guard let fit = try LeastSquares.fit(rows: rows, targets: measured.map(\.medianMilliseconds)) else {
            throw LatencyPredictorError.tooFewNetworks(measured.count)
        }
        try store.recordCorrection(fit.coefficients, networks: measured.count, device: engine.device)
        return fit.coefficients
    }

    public func predict(_ architecture: Architecture) throws -> Double {
        try predict(Network(architecture))
    }

    /// The predicted latency of a decoded network.
    public func predict(_ network: Network) throws -> Double {
        guard let c = try store.correction(device: engine.device) else {
            throw LatencyStoreError.noCorrection(device: "\(engine.device.engine) on \(engine.device.device)")
        }
        let predicted = zip(c, try features(network)).reduce(0) { $0 + $1.0 * $1.1 }
        // A linear fit extrapolated far from the networks it saw can fall to zero or below.
        guard predicted > 0 else {
            throw LatencyPredictorError.outsideFit(architecture: network.architecture.description, predicted: predicted)
        }
        return predicted
    }
}

public enum LatencyPredictorError: ClassifiedError {
    /// The table the user built holds too little to fit.
    public var kind: ErrorKind { .invalidInput }

    case tooFewNetworks(Int)
    case outsideFit(architecture: String, predicted: Double)

    public var description: String {
        switch self {
        case let .tooFewNetworks(n):
            return "only \(n) measured networks: the correction needs at least 3; build the table with more --samples"
        case let .outsideFit(architecture, predicted):
            return String(format: "the latency table's fit predicts %.4f ms for %@: the architecture lies outside the networks it was fitted on; build the table on its space (`nas latency table build --space FILE`) or measure it (`nas latency measure`)", predicted, architecture)
        }
    }
}

/// How well predictions match measurements on held-out architectures.
public struct ValidationReport: Sendable, Codable {
    public var samples: Int
    public var within10Percent: Double
    public var within5Percent: Double
    public var rmsePercent: Double
    public var maxAbsoluteErrorPercent: Double

    public init(measured: [Double], predicted: [Double]) {
        let errors = zip(predicted, measured).map { 100 * ($0 - $1) / $1 }
        samples = errors.count
        within10Percent = Double(errors.filter { abs($0) <= 10 }.count) / Double(max(1, errors.count))
        within5Percent = Double(errors.filter { abs($0) <= 5 }.count) / Double(max(1, errors.count))
        rmsePercent = (errors.map { $0 * $0 }.reduce(0, +) / Double(max(1, errors.count))).squareRoot()
        maxAbsoluteErrorPercent = errors.map(abs).max() ?? 0
    }
}
