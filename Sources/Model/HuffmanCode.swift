/// Deep Compression's last stage (Han et al. 2016): the codes of a shared or
/// quantised weight tensor are not equally frequent (k-means puts more
/// centroids where weights are dense, but the tails still hold fewer), so a
/// Huffman code stores them in fewer bits than their fixed width.
///
/// Canonical: only the code length of each symbol is stored (one byte per
/// symbol of the alphabet), and codes are assigned in order of (length,
/// symbol), so the table alone rebuilds the code. Lengths are built with ties
/// broken by symbol, so the same counts always give the same code.
public struct HuffmanCode: Sendable, Equatable {
    /// Code length in bits per symbol; 0 for a symbol that never occurs.
    public let lengths: [UInt8]

    /// The code for symbols 0..<`counts.count` occurring `counts` times.
    public init(counts: [Int]) {
        var lengths = [UInt8](repeating: 0, count: counts.count)
        // Each tree: its weight, its smallest symbol (the tie-break) and its leaves.
        var trees: [(weight: Int, first: Int, symbols: [Int])] = counts.indices.filter { counts[$0] > 0 }
            .map { (counts[$0], $0, [$0]) }
        if trees.count == 1 { lengths[trees[0].first] = 1 }
        while trees.count > 1 {
            trees.sort { ($0.weight, $0.first) < ($1.weight, $1.first) }
            let a = trees.removeFirst(), b = trees.removeFirst()
            for symbol in a.symbols + b.symbols { lengths[symbol] += 1 }
            trees.append((a.weight + b.weight, min(a.first, b.first), a.symbols + b.symbols))
        }
        self.lengths = lengths
    }

    public init(lengths: [UInt8]) { self.lengths = lengths }

    /// Canonical codes: by length, then symbol, each the previous plus one,
    /// shifted left as the length grows.
    private var codes: [(code: UInt64, length: Int)?] {
        let order = lengths.indices.filter { lengths[$0] > 0 }.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        var codes = [(code: UInt64, length: Int)?](repeating: nil, count: lengths.count)
        var code: UInt64 = 0, length = 0
        for (k, symbol) in order.enumerated() {
            let next = Int(lengths[symbol])
            if k > 0 { code += 1 }
            code <<= UInt64(next - length)
            length = next
            codes[symbol] = (code, length)
        }
        return codes
    }

    /// The symbols as a bit stream, most significant bit first, the last byte
    /// padded with zeros. Every symbol must have a code (a count above zero).
    public func encode(_ symbols: [Int]) -> [UInt8] {
        let codes = codes
        var bytes: [UInt8] = []
        var accumulator: UInt64 = 0, pending = 0
        for symbol in symbols {
            let (code, length) = codes[symbol]!
            for bit in stride(from: length - 1, through: 0, by: -1) {
                accumulator = accumulator << 1 | (code >> UInt64(bit) & 1)
                pending += 1
                if pending == 8 {
                    bytes.append(UInt8(accumulator))
                    accumulator = 0
                    pending = 0
                }
            }
        }
        if pending > 0 { bytes.append(UInt8(accumulator << UInt64(8 - pending))) }
        return bytes
    }

    /// The first `count` symbols of `bytes`; nil if the stream ends early or holds no code.
    public func decode(_ bytes: [UInt8], count: Int) -> [Int]? {
        var symbolOf: [Int: [UInt64: Int]] = [:]
        for (symbol, entry) in codes.enumerated() {
            if let (code, length) = entry { symbolOf[length, default: [:]][code] = symbol }
        }
        let longest = Int(lengths.max() ?? 0)
        var symbols: [Int] = []
        symbols.reserveCapacity(count)
        var code: UInt64 = 0, length = 0
        for byte in bytes {
            for bit in stride(from: 7, through: 0, by: -1) {
                if symbols.count == count { return symbols }
                code = code << 1 | UInt64(byte >> UInt8(bit) & 1)
                length += 1
                if let symbol = symbolOf[length]?[code] {
                    symbols.append(symbol)
                    code = 0
                    length = 0
                } else if length >= longest {
                    return nil
                }
            }
        }
        return symbols.count == count ? symbols : nil
    }

    /// Bytes of the stream for symbols occurring `counts` times (what `encode` returns, without encoding).
    public func streamBytes(counts: [Int]) -> Int {
        (zip(lengths, counts).reduce(0) { $0 + Int($1.0) * $1.1 } + 7) / 8
    }

    /// Bytes stored: the table of lengths, one per symbol, and the stream.
    public func storedBytes(counts: [Int]) -> Int { lengths.count + streamBytes(counts: counts) }
}
