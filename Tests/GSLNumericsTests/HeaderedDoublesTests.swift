import Foundation
import GSLNumerics
import Testing

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

    @Test("Every bit pattern survives: signed zero, subnormals, infinities and NaN payloads included")
    func exactBits() throws {
        let stream = RandomStream(seed: 5, name: "packed")
        var values = [0.0, -0.0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity,
                      Double(bitPattern: 0x7ff8_0000_dead_beef), 1.0 / 3]
        values += (0..<1000).map { _ in stream.uniform(-1, 1) * pow(10, stream.uniform(-300, 300)) }
        let data = try HeaderedDoubles.encode(magic: "X", header: [Int](), doubles: values)
        let decoded = try #require(HeaderedDoubles.decode(magic: "X", [Int].self, from: data))
        #expect(decoded.1.map(\.bitPattern) == values.map(\.bitPattern))
    }
}
