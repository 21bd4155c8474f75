import CGSL
public import Core
import Foundation

/// A named, checkpointable stream of random numbers: GSL's MT19937 (`gsl_rng_mt19937`).
///
/// Every random decision of a run (controller sampling, data order, augmentation,
/// weight init) draws from its own stream, derived from the run seed and the
/// stream's name, so that adding draws to one stream never shifts another. The
/// generator's whole state is `state()`: restoring it continues the identical
/// sequence, which is what makes a resumed run equal an uninterrupted one.
///
/// A stream is not thread-safe; give each thread its own.
public final class RandomStream: RandomSource {
    /// The name it was derived with (`"controller"`, `"data-order"`, …).
    public let name: String
    /// The run seed it was derived from.
    public let seed: UInt64
    private let rng: UnsafeMutablePointer<gsl_rng>

    /// Derives the stream `name` of the run seeded with `seed`.
    public init(seed: UInt64, name: String) {
        GSLErrors.installHandler()
        self.name = name
        self.seed = seed
        // gsl_rng_alloc only fails on out-of-memory; failing loudly is right there.
        self.rng = gsl_rng_alloc(nasd_gsl_rng_mt19937())!
        gsl_rng_set(rng, UInt(RandomStream.derivedSeed(seed: seed, name: name)))
    }

    /// Restores a stream from a saved state, continuing exactly where it was saved.
    public convenience init(restoring saved: RandomStreamState) throws {
        self.init(seed: saved.seed, name: saved.name)
        try restore(saved)
    }

    deinit { gsl_rng_free(rng) }

    /// MT19937 seeds from 32 bits; mix the run seed and the name into them with
    /// FNV-1a and a SplitMix64 finaliser, so nearby seeds and similar names
    /// give unrelated streams, identically on every platform.
    static func derivedSeed(seed: UInt64, name: String) -> UInt32 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        var z = h ^ (seed &+ 0x9e37_79b9_7f4a_7c15)
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z ^= z >> 31
        let folded = UInt32(truncatingIfNeeded: z ^ (z >> 32))
        // GSL replaces seed 0 by its default seed; keep distinct names distinct.
        return folded == 0 ? 1 : folded
    }

    // MARK: Draws

    /// A double uniform on [0, 1).
    public func uniform() -> Double { gsl_rng_uniform(rng) }

    /// A double uniform on [low, high).
    public func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * gsl_rng_uniform(rng)
    }

    /// An integer uniform on 0..<n, without modulo bias.
    public func uniformInt(_ n: Int) -> Int {
        precondition(n > 0 && UInt64(n) <= UInt64(UInt32.max), "uniformInt needs 0 < n ≤ 2^32-1, got \(n)")
        return Int(gsl_rng_uniform_int(rng, UInt(n)))
    }

    /// A normal draw with the given mean and standard deviation.
    public func normal(mean: Double = 0, standardDeviation: Double = 1) -> Double {
        mean + gsl_ran_gaussian_ziggurat(rng, standardDeviation)
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero).
    public func categorical(_ weights: [Double]) -> Int {
        CategoricalDistribution(weights: weights).sample(self)
    }

    /// Shuffles `elements` in place (GSL's Fisher–Yates, `gsl_ran_shuffle`).
    public func shuffle<T>(_ elements: inout [T]) {
        guard elements.count > 1 else { return }
        elements.withUnsafeMutableBufferPointer { buffer in
            gsl_ran_shuffle(rng, buffer.baseAddress, buffer.count, MemoryLayout<T>.stride)
        }
    }

    /// A uniformly shuffled permutation of 0..<n.
    public func permutation(_ n: Int) -> [Int] {
        var indices = Array(0..<n)
        shuffle(&indices)
        return indices
    }

    /// For the types in this module that draw through GSL directly.
    func withGSL<R>(_ body: (UnsafeMutablePointer<gsl_rng>) -> R) -> R { body(rng) }

    // MARK: Checkpoints

    /// The generator's complete state, to store in a checkpoint.
    public func state() -> RandomStreamState {
        let size = gsl_rng_size(rng)
        let raw = UnsafeRawBufferPointer(start: gsl_rng_state(rng), count: size)
        return RandomStreamState(name: name, seed: seed, algorithm: RandomStreamState.mt19937, bytes: Array(raw))
    }

    /// Replaces the generator's state by a saved one. A state from another
    /// algorithm, of the wrong size or out of MT19937's range is rejected and
    /// the stream is left as it was.
    public func restore(_ saved: RandomStreamState) throws {
        guard saved.algorithm == RandomStreamState.mt19937 else {
            throw RandomStreamError.wrongAlgorithm(stream: saved.name, found: saved.algorithm)
        }
        let size = gsl_rng_size(rng)
        guard saved.bytes.count == size else {
            throw RandomStreamError.wrongSize(stream: saved.name, expected: size, found: saved.bytes.count)
        }
        // GSL's mt19937 state is { unsigned long mt[624]; int mti; }: a position
        // outside 0...624 would read past the table, so it marks a damaged state.
        let position = saved.bytes.withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: 624 * MemoryLayout<UInt>.stride, as: Int32.self)
        }
        guard (0...624).contains(position) else {
            throw RandomStreamError.damaged(stream: saved.name, reason: "position \(position) is outside 0...624")
        }
        saved.bytes.withUnsafeBytes { raw in
            gsl_rng_state(rng).copyMemory(from: raw.baseAddress!, byteCount: size)
        }
    }
}

/// A saved `RandomStream`: plain bytes plus what they belong to.
public struct RandomStreamState: Codable, Equatable, Sendable {
    public static let mt19937 = "mt19937"
    public var name: String
    public var seed: UInt64
    public var algorithm: String
    /// GSL's in-memory state of the generator, byte for byte (x86-64 layout).
    public var bytes: [UInt8]

    public init(name: String, seed: UInt64, algorithm: String, bytes: [UInt8]) {
        self.name = name
        self.seed = seed
        self.algorithm = algorithm
        self.bytes = bytes
    }

    private enum CodingKeys: String, CodingKey { case name, seed, algorithm, bytes }

    // The 5 kB of state go out as one Data value (base64 in JSON), not as an
    // array of numbers: a third of the size and far quicker at every checkpoint.
    // Arrays of numbers are still read.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        seed = try c.decode(UInt64.self, forKey: .seed)
        algorithm = try c.decode(String.self, forKey: .algorithm)
        bytes = try (try? c.decode(Data.self, forKey: .bytes)).map(Array.init) ?? c.decode([UInt8].self, forKey: .bytes)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(seed, forKey: .seed)
        try c.encode(algorithm, forKey: .algorithm)
        try c.encode(Data(bytes), forKey: .bytes)
    }
}

/// Why a saved random state could not be used.
public enum RandomStreamError: ClassifiedError, Equatable {
    case wrongAlgorithm(stream: String, found: String)
    case wrongSize(stream: String, expected: Int, found: Int)
    case damaged(stream: String, reason: String)

    /// A saved state comes from a checkpoint: one that does not fit is damaged.
    public var kind: ErrorKind { .damaged }

    public var description: String {
        switch self {
        case let .wrongAlgorithm(stream, found):
            return "random stream '\(stream)': the checkpoint holds a '\(found)' state, but nasd streams are mt19937; the checkpoint was not written by this version of nasd"
        case let .wrongSize(stream, expected, found):
            return "random stream '\(stream)': the checkpoint holds \(found) bytes of state, expected \(expected); the checkpoint is truncated or damaged and cannot be used"
        case let .damaged(stream, reason):
            return "random stream '\(stream)': the saved state is damaged (\(reason)) and cannot be used"
        }
    }
}
