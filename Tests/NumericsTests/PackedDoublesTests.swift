import Foundation
import Numerics
import Testing

@Suite("Packed doubles")
struct PackedDoublesTests {
    @Test("Every bit pattern survives JSON, signed zero, subnormals, infinities and NaN payloads included")
    func exactRoundTrip() throws {
        let stream = RandomStream(seed: 5, name: "packed")
        var values = [0.0, -0.0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity,
                      Double(bitPattern: 0x7ff8_0000_dead_beef), 1.0 / 3]
        values += (0..<1000).map { _ in stream.uniform(-1, 1) * pow(10, stream.uniform(-300, 300)) }
        let data = try JSONEncoder().encode(PackedDoubles(values))
        let decoded = try JSONDecoder().decode(PackedDoubles.self, from: data)
        #expect(decoded.values.map(\.bitPattern) == values.map(\.bitPattern))
        // Smaller than the same numbers as JSON decimals.
        let finite = values.filter(\.isFinite)
        #expect(try JSONEncoder().encode(PackedDoubles(finite)).count * 3 < JSONEncoder().encode(finite).count * 2)
    }

    @Test("A plain JSON array is accepted; a byte count that is not whole doubles is refused")
    func legacyAndDamaged() throws {
        #expect(try JSONDecoder().decode(PackedDoubles.self, from: Data("[1.5, -2]".utf8)).values == [1.5, -2])
        let damaged = try JSONEncoder().encode(Data([1, 2, 3]))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PackedDoubles.self, from: damaged) }
    }
}

@Suite("Headered doubles")
struct HeaderedDoublesTests {
    @Test("Header and doubles round-trip exactly; another magic, a cut or a stray byte is refused")
    func roundTripAndDamage() throws {
        let doubles = [1.0 / 3, -0.0, .pi, 1e-310]
        let data = try HeaderedDoubles.encode(magic: "TEST\n", header: ["step": 7], doubles: doubles)
        let decoded = try #require(HeaderedDoubles.decode(magic: "TEST\n", [String: Int].self, from: data))
        #expect(decoded.0 == ["step": 7])
        #expect(decoded.1.map(\.bitPattern) == doubles.map(\.bitPattern))
        #expect(HeaderedDoubles.decode(magic: "OTHER", [String: Int].self, from: data) == nil)
        #expect(HeaderedDoubles.decode(magic: "TEST\n", [String: Int].self, from: data.dropLast(3)) == nil)
        #expect(HeaderedDoubles.decode(magic: "TEST\n", [String: Int].self, from: data.prefix(12)) == nil)
        #expect(HeaderedDoubles.decode(magic: "TEST\n", [String: Int].self, from: data + Data([0])) == nil)
    }
}
