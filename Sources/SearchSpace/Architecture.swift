import Crypto

/// One candidate network in its canonical, printable form.
///
/// The text form (grammar in README) is what logs, the run store, the CLI and
/// file names use; `description` prints it and `Architecture(parsing:)` reads it.
/// The initialiser canonicalises: `_noskip` is kept only where a residual add
/// could exist, so two strings name the same network only if they are equal.
public struct Architecture: Hashable, Sendable, CustomStringConvertible {
    /// Input side in pixels (the resolution multiplier applied to 28).
    public let resolution: Int
    /// Width multiplier, applied to every channel count by `scaledChannels`.
    public let width: Double
    public let stem: Stem
    public let blocks: [Block]
    public let head: Head

    public init(resolution: Int, width: Double, stem: Stem, blocks: [Block], head: Head) {
        self.resolution = resolution
        self.width = width
        self.stem = stem
        self.head = head
        var canonical: [Block] = []
        var inChannels = Architecture.scaledChannels(stem.filters, width: width)
        for var block in blocks {
            let outChannels = Architecture.scaledChannels(block.filters, width: width)
            if !block.skipMeaningful(inChannels: inChannels, outChannels: outChannels) { block.skip = true }
            canonical.append(block)
            inChannels = outChannels
        }
        self.blocks = canonical
    }

    /// A channel count `c` under width multiplier `w`: `max(8, round_to_multiple_of_8(c·w))`,
    /// never below 90% of c·w (the MobileNet rule).
    public static func scaledChannels(_ channels: Int, width: Double) -> Int {
        let value = Double(channels) * width
        var rounded = max(8, Int(value + 4) / 8 * 8)
        if Double(rounded) < 0.9 * value { rounded += 8 }
        return rounded
    }

    /// The canonical string.
    public var description: String {
        var text = "r\(resolution)_w\(Architecture.decimal(width)):\(stem)"
        for block in blocks { text += "|\(block)" }
        return text + "|\(head)"
    }

    /// First 12 hex digits of the SHA-256 of the canonical string: the name of
    /// a candidate everywhere (store, logs, exported files).
    public var hash: String { Self.hashText(description) }

    /// First 12 hex digits of the SHA-256 of `text`.
    public static func hashText(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).prefix(6).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Decimals print as their shortest round-trip form, always with a point: 1.0, 0.75.
    static func decimal(_ value: Double) -> String { "\(value)" }
}

extension Architecture {
    /// The first layer: a full 3×3 convolution from the image's channels.
    public struct Stem: Hashable, Sendable, CustomStringConvertible {
        public let kernel: Int
        public let stride: Int
        public let filters: Int

        public init(stride: Int, filters: Int) {
            self.kernel = 3
            self.stride = stride
            self.filters = filters
        }

        public var description: String { "stem_k\(kernel)_s\(stride)_o\(filters)" }
    }

    /// The classifier: 1×1 conv → BN → act → global average pool → linear.
    public struct Head: Hashable, Sendable, CustomStringConvertible {
        public let filters: Int
        public init(filters: Int) { self.filters = filters }
        public var description: String { "head_o\(filters)" }
    }

    public enum Op: String, CaseIterable, Hashable, Sendable {
        /// Full convolution(s) → BN → act.
        case conv
        /// Depthwise-separable: depthwise(kernel) → BN → act → [SE] → 1×1 → BN → act.
        case sep
        /// MBConv (inverted bottleneck): 1×1 expand → depthwise → [SE] → 1×1 project.
        case mb
    }

    /// How a block realises its receptive field.
    public enum KernelForm: Hashable, Sendable, CustomStringConvertible, CaseIterable {
        /// One k×k convolution.
        case square(Int)
        /// Stacked 3×3 convolutions covering a k×k field: 5s is two, 7s three.
        case stacked(Int)
        /// Factorised: 1×k then k×1.
        case factorised(Int)

        public static let allCases: [KernelForm] = [
            .square(3), .square(5), .square(7), .stacked(5), .stacked(7),
            .factorised(3), .factorised(5), .factorised(7),
        ]

        public init?(_ text: String) {
            guard let form = KernelForm.allCases.first(where: { $0.description == text }) else { return nil }
            self = form
        }

        public var description: String {
            switch self {
            case let .square(k): return "\(k)"
            case let .stacked(k): return "\(k)s"
            case let .factorised(k): return "\(k)f"
            }
        }

        /// The convolutions, in order, as (height, width); the block's stride is on the first.
        public var convolutions: [(height: Int, width: Int)] {
            switch self {
            case let .square(k): return [(k, k)]
            case let .stacked(k): return Array(repeating: (3, 3), count: (k - 1) / 2)
            case let .factorised(k): return [(1, k), (k, 1)]
            }
        }
    }

    /// One searchable stage: `repeats` copies of an op, the first with `stride`.
    public struct Block: Hashable, Sendable, CustomStringConvertible {
        public let op: Op
        public let repeats: Int
        public let kernel: KernelForm
        public let stride: Int
        /// Expansion ratio of an `mb` block; nil for `conv` and `sep`.
        public let expansion: Int?
        /// The fraction of expanded channels an `mb` block keeps (`_h`): what
        /// filter pruning leaves of its 1×1 expansion; nil for all of them.
        public let hiddenKept: Double?
        /// Output channels before the width multiplier.
        public let filters: Int
        /// Squeeze-and-excite ratio; nil for none.
        public let seRatio: Double?
        /// Whether a residual add is taken where shapes allow it.
        public internal(set) var skip: Bool
        /// Bits per weight of the block's convolutions, stored as a per-layer
        /// codebook (`_b`, a search dimension); nil for float32.
        public let bits: Int?

        public init(op: Op, repeats: Int, kernel: KernelForm, stride: Int, expansion: Int?,
                    filters: Int, seRatio: Double?, skip: Bool, hiddenKept: Double? = nil, bits: Int? = nil) {
            self.op = op
            self.repeats = repeats
            self.kernel = kernel
            self.stride = stride
            self.expansion = op == .mb ? (expansion ?? 1) : nil
            self.hiddenKept = op == .mb && (expansion ?? 1) > 1 && (hiddenKept ?? 1) < 1 ? hiddenKept : nil
            self.filters = filters
            self.seRatio = (seRatio ?? 0) > 0 ? seRatio : nil
            self.skip = skip
            self.bits = bits == 32 ? nil : bits
        }

        /// Channels between the expansion and the projection of an `mb` block
        /// whose input has `input` channels.
        public func expandedChannels(input: Int) -> Int {
            let full = input * (expansion ?? 1)
            guard let hiddenKept else { return full }
            return max(1, Int((Double(full) * hiddenKept).rounded()))
        }

        /// `_noskip` changes the network only if some repeat could take a residual:
        /// the repeats after the first always can; the first when stride is 1 and
        /// channels are kept.
        func skipMeaningful(inChannels: Int, outChannels: Int) -> Bool {
            repeats > 1 || (stride == 1 && inChannels == outChannels)
        }

        public var description: String {
            var text = "\(op.rawValue)_r\(repeats)_k\(kernel)_s\(stride)"
            if let expansion { text += "_e\(expansion)" }
            if let hiddenKept { text += "_h\(Architecture.decimal(hiddenKept))" }
            text += "_o\(filters)"
            if let seRatio { text += "_se\(Architecture.decimal(seRatio))" }
            if let bits { text += "_b\(bits)" }
            if !skip { text += "_noskip" }
            return text
        }
    }
}
