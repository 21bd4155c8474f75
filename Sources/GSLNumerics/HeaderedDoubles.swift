public import Foundation

/// A JSON header followed by raw doubles: for states whose bulk is numbers
/// (a policy's weights and optimiser moments), so a checkpoint costs a copy
/// rather than a text encoding. Layout: the magic's UTF-8 bytes, the header's
/// length (UInt64, little-endian), the header's JSON, then the doubles'
/// IEEE-754 bits, little-endian.
public enum HeaderedDoubles {
    public static func encode<Header: Encodable>(magic: String, header: Header, doubles: [Double]) throws -> Data {
        let json = try JSONEncoder().encode(header)
        var data = Data(magic.utf8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        doubles.map { $0.bitPattern.littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// The header and the doubles; nil when the data is not of this kind or is cut short.
    public static func decode<Header: Decodable>(magic: String, _ type: Header.Type, from data: Data) -> (Header, [Double])? {
        let bytes = [UInt8](data)
        let m = Array(magic.utf8)
        guard bytes.count >= m.count + 8, Array(bytes[..<m.count]) == m else { return nil }
        let length = bytes[m.count..<(m.count + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let headerEnd = m.count + 8 + Int(clamping: length)
        guard length <= UInt64(bytes.count), headerEnd <= bytes.count, (bytes.count - headerEnd) % 8 == 0,
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[(m.count + 8)..<headerEnd])) else { return nil }
        let doubles = bytes[headerEnd...].withUnsafeBytes { raw in
            (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
        return (header, doubles)
    }
}
