public import Core
public import Foundation
public import GSLNumerics

/// A search strategy: proposes token sequences (one choice per decision of
/// the space) and learns from their rewards. Its whole state, random streams
/// included, serialises, so a resumed run continues exactly.
public protocol Controller: AnyObject {
    var strategy: String { get }
    func propose() -> [Int]
    func observe(tokens: [Int], reward: Double)
    func state() throws -> Data
    func restore(_ state: Data) throws
}

/// Why a saved controller state could not be used.
public struct ControllerStateError: ClassifiedError {
    public let strategy: String
    public let reason: String

    public var kind: ErrorKind { .damaged }

    public var description: String {
        "the saved \(strategy) controller state cannot be used (\(reason)); the run cannot continue exactly from it: start a new run with the same seed (its finished candidates stay readable with `nas status`)"
    }
}

/// Random search: every decision uniform and independent. The baseline.
public final class RandomController: Controller {
    public let strategy = "random"
    private let sizes: [Int]
    private let stream: RandomStream

    public init(decisionSizes: [Int], stream: RandomStream) {
        sizes = decisionSizes
        self.stream = stream
    }

    public func propose() -> [Int] { sizes.map { stream.uniformInt($0) } }

    public func observe(tokens: [Int], reward: Double) {}

    private struct State: Codable {
        var stream: RandomStreamState
    }

    public func state() throws -> Data { try JSONEncoder().encode(State(stream: stream.state())) }

    public func restore(_ data: Data) throws {
        guard let state = try? JSONDecoder().decode(State.self, from: data) else {
            throw ControllerStateError(strategy: strategy, reason: "not a random controller state")
        }
        try stream.restore(state.stream)
    }
}

/// Regularised (aging) evolution, Real et al. 2019: a population of the P
/// most recent candidates; each new candidate mutates one decision of the
/// best of S members drawn at random; the oldest member leaves. The first P
/// candidates are random.
public final class EvolutionController: Controller {
    public let strategy = "evolution"
    public let populationSize: Int
    public let sampleSize: Int
    private let sizes: [Int]
    private let stream: RandomStream
    private var population: [Member] = []

    private struct Member: Codable, Equatable {
        var tokens: [Int]
        var reward: Double
    }

    public init(decisionSizes: [Int], populationSize: Int = 20, sampleSize: Int = 5, stream: RandomStream) {
        precondition(populationSize >= 1 && (1...populationSize).contains(sampleSize), "need 1 ≤ sample ≤ population")
        sizes = decisionSizes
        self.populationSize = populationSize
        self.sampleSize = sampleSize
        self.stream = stream
    }

    public func propose() -> [Int] {
        guard population.count >= populationSize else { return sizes.map { stream.uniformInt($0) } }
        // Tournament: S distinct members, the best reward wins (the earliest on ties).
        let contestants = stream.permutation(population.count).prefix(sampleSize).sorted()
        let parent = contestants.max { population[$0].reward < population[$1].reward || 
            (population[$0].reward == population[$1].reward && $0 > $1) }!
        var child = population[parent].tokens
        let mutable = sizes.indices.filter { sizes[$0] > 1 }
        guard !mutable.isEmpty else { return child }
        let decision = mutable[stream.uniformInt(mutable.count)]
        // A different value, uniformly among the others.
        let shift = 1 + stream.uniformInt(sizes[decision] - 1)
        child[decision] = (child[decision] + shift) % sizes[decision]
        return child
    }

    public func observe(tokens: [Int], reward: Double) {
        population.append(Member(tokens: tokens, reward: reward))
        if population.count > populationSize { population.removeFirst() }
    }

    private struct State: Codable {
        var population: [Member]
        var stream: RandomStreamState
    }

    public func state() throws -> Data {
        try JSONEncoder().encode(State(population: population, stream: stream.state()))
    }

    public func restore(_ data: Data) throws {
        guard let state = try? JSONDecoder().decode(State.self, from: data) else {
            throw ControllerStateError(strategy: strategy, reason: "not an evolution controller state")
        }
        guard state.population.count <= populationSize,
              state.population.allSatisfy({ $0.tokens.count == sizes.count && zip($0.tokens, sizes).allSatisfy { $0 >= 0 && $0 < $1 } }) else {
            throw ControllerStateError(strategy: strategy, reason: "its population does not fit this search space")
        }
        try stream.restore(state.stream)
        population = state.population
    }
}
