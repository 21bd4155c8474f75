import Foundation

/// A minimal HTTP/1.1 client over a real socket (TCP or Unix), for the
/// daemon's tests: every header and byte of the request is the test's to
/// choose (no Content-Type, a body over the limit, a Unix socket), which
/// URLSession does not allow.
struct HTTPClient {
    enum Address {
        case tcp(port: UInt16)
        case unix(path: String)
    }

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:]
        }
        /// The error body's `field` and `code`.
        var error: (code: String?, field: String?) {
            let error = (try? json())?["error"] as? [String: Any]
            return (error?["code"] as? String, error?["field"] as? String)
        }
    }

    let address: Address
    var token: String?

    /// The address printed on the daemon's "nasd listening on …" line.
    init(listening line: String, token: String? = nil) {
        let spec = line.components(separatedBy: " ")[3]
        if spec.hasPrefix("unix:") {
            address = .unix(path: String(spec.dropFirst(5)))
        } else {
            address = .tcp(port: UInt16(spec.split(separator: ":").last!)!)
        }
        self.token = token
    }

    func get(_ path: String, headers: [String: String] = [:]) throws -> Reply {
        try request("GET", path, headers: headers)
    }

    func post(_ path: String, json: String? = nil, contentType: String? = "application/json") throws -> Reply {
        try request("POST", path, headers: contentType.map { ["Content-Type": $0] } ?? [:], body: json.map { Data($0.utf8) })
    }

    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) throws -> Reply {
        let socket = try connect()
        defer { close(socket) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        head += "Content-Length: \(body?.count ?? 0)\r\n\r\n"
        try send(socket, Data(head.utf8) + (body ?? Data()))
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(socket, &buffer, buffer.count)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        return try parse(response)
    }

    private func connect() throws -> Int32 {
        switch address {
        case let .tcp(port):
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else { close(s); throw HTTPClientError.connect(String(cString: strerror(errno))) }
            return s
        case let .unix(path):
            let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
            }
            let result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard result == 0 else { close(s); throw HTTPClientError.connect(String(cString: strerror(errno))) }
            return s
        }
    }

    private func send(_ socket: Int32, _ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(socket, raw.baseAddress! + offset, raw.count - offset)
                // The server may answer (413) and close before reading a large body.
                if n <= 0 { return }
                offset += n
            }
        }
    }

    private func parse(_ response: Data) throws -> Reply {
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw HTTPClientError.malformed(response.count) }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(response[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = Self.unchunk(body) }
        return Reply(status: status, headers: headers, body: body)
    }

    private static func unchunk(_ data: Data) -> Data {
        var out = Data(), rest = data[...]
        while let line = rest.range(of: Data("\r\n".utf8)) {
            guard let size = Int(String(decoding: rest[..<line.lowerBound], as: UTF8.self), radix: 16), size > 0 else { break }
            let start = line.upperBound
            out.append(rest[start..<start + size])
            rest = rest[(start + size + 2)...]
        }
        return out
    }
}

enum HTTPClientError: Error {
    case connect(String)
    case malformed(Int)
}
