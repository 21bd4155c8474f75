import Foundation
import GSLNumerics
import Model
import Testing

@Suite("Huffman coding of weight codes (Deep Compression's last stage)")
struct HuffmanCodeTests {
    @Test("Streams decode to the symbols encoded; the stream is as long as the lengths say; the table alone rebuilds the code")
    func roundTrip() throws {
        let stream = RandomStream(seed: 9, name: "symbols")
        // Skewed as k-means codes are: a few centroids hold most weights.
        let symbols = (0..<5_000).map { _ in min(Int(abs(stream.normal()) * 3), 15) }
        var counts = [Int](repeating: 0, count: 16)
        for s in symbols { counts[s] += 1 }
        let code = HuffmanCode(counts: counts)
        let bytes = code.encode(symbols)
        #expect(bytes.count == code.streamBytes(counts: counts))
        #expect(code.decode(bytes, count: symbols.count) == symbols)
        #expect(HuffmanCode(lengths: code.lengths).decode(bytes, count: symbols.count) == symbols)
        // Shorter than 4 bits each for this distribution; a complete prefix code (Kraft sum exactly 1).
        #expect(code.storedBytes(counts: counts) < symbols.count / 2, "\(code.storedBytes(counts: counts)) bytes")
        let kraft = code.lengths.filter { $0 > 0 }.reduce(0.0) { $0 + pow(2, -Double($1)) }
        #expect(abs(kraft - 1) < 1e-12)
        // Unused symbols get no code; more frequent ones never get longer codes.
        for a in counts.indices { for b in counts.indices where counts[a] > counts[b] && counts[b] > 0 { #expect(code.lengths[a] <= code.lengths[b]) } }
        #expect(zip(counts, code.lengths).allSatisfy { ($0 == 0) == ($1 == 0) })
        // Same counts, same code; a stream cut short does not decode.
        #expect(HuffmanCode(counts: counts) == code)
        #expect(code.decode(Array(bytes.dropLast(8)), count: symbols.count) == nil)
    }

    @Test("Equal counts give the fixed width; one symbol takes one bit each")
    func edges() {
        let uniform = HuffmanCode(counts: [Int](repeating: 10, count: 16))
        #expect(uniform.lengths.allSatisfy { $0 == 4 })
        let single = HuffmanCode(counts: [0, 0, 7, 0])
        #expect(single.lengths == [0, 0, 1, 0] && single.decode(single.encode([2, 2, 2]), count: 3) == [2, 2, 2])
        #expect(HuffmanCode(counts: [0, 0]).encode([]) == [])
    }

    @Test("A stored tensor counts Huffman-coded codes only where smaller than packed ones")
    func storedWeights() {
        // 64 weights, 60 on one centroid: 2-bit packing takes 16 bytes, Huffman 4 (table) + 9 (stream: 60·1 + 2·2 + 2·2... bits).
        let indices: [UInt8] = [UInt8](repeating: 1, count: 60) + [0, 0, 2, 3]
        let skewed = StoredWeight.codebook(indices: indices, bits: 2, codebook: [0, 1, 2, 3], channelScales: nil)
        #expect(skewed.storageBytes == 16 + 16)
        var counts = [0, 0, 0, 0]
        for i in indices { counts[Int(i)] += 1 }
        #expect(skewed.huffmanBytes == 16 + HuffmanCode(counts: counts).storedBytes(counts: counts))
        #expect(skewed.huffmanBytes < skewed.storageBytes)
        // Binary codes cannot shrink: packing stays.
        let binary = StoredWeight.integers(values: [1, -1, 1, 1, -1, -1, 1, -1], bits: 1, scales: [0.5])
        #expect(binary.huffmanBytes == binary.storageBytes)
        #expect(StoredWeight.dense(values: [1, 2]).huffmanBytes == 8)
        // Integer codes are shifted into 0..<2^bits.
        #expect(StoredWeight.integers(values: [-7, 7, 0], bits: 4, scales: [1]).symbols?.values == [1, 15, 8])
    }
}
