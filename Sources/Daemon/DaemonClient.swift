public import Core
public import Foundation
public import Runs

/// The CLI's side of the daemon: when `nas serve` owns a runs directory, the
/// commands that drive runs go through it (a second process driving the same
/// run would break its determinism). It finds the daemon by its lock (held:
/// alive) and the address the daemon wrote into it.
///
/// Blocking HTTP/1.1 over the local socket: the CLI is synchronous and talks
/// to one local server, so this small exchange is kept here rather than
/// pulling AsyncHTTPClient, whose TLS stack (a second BoringSSL through
/// swift-nio-ssl) would add minutes to every build for a connection that
/// never leaves the machine.
public final class DaemonClient: Sendable {
    public let address: ListenAddress
    private let token: String?

    /// The daemon named by `NASD_URL` (http://HOST:PORT) or `NASD_SOCKET`
    /// (a Unix socket's path), else the one serving `runs`, or nil when none does.
    public static func serving(_ runs: RunsFolder) throws(NasError) -> DaemonClient? {
        // The daemon serves the runs folder's own runs; a shared store is opened directly.
        guard runs.store == nil else { return nil }
        let environment = ProcessInfo.processInfo.environment
        let token = environment["NASD_TOKEN"]
        if let url = environment["NASD_URL"], !url.isEmpty {
            guard url.hasPrefix("http://"), let address = try? ListenAddress(parsing: String(url.dropFirst(7).prefix { $0 != "/" })) else {
                throw .invalidInput("NASD_URL is '\(url)'; give the daemon's address as http://HOST:PORT")
            }
            return DaemonClient(address: address, token: token)
        }
        if let socket = environment["NASD_SOCKET"], !socket.isEmpty {
            return DaemonClient(address: .unix(path: socket), token: token)
        }
        let path = runs.path + "/" + DaemonLock.fileName
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // A shared lock is refused only while a daemon holds its exclusive one.
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return nil
        }
        let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
        guard lines.count >= 2, let address = try? ListenAddress(parsing: String(lines[1])) else {
            throw .environment("a nasd (pid \(lines.first ?? "?")) serves \(runs.path) but has not said where it listens yet; try again in a moment")
        }
        return DaemonClient(address: address, token: token)
    }

    init(address: ListenAddress, token: String?) {
        self.address = address
        self.token = token
    }

    public struct Reply {
        public let status: Int
        public let body: Data

        /// The API's error message, or the body.
        public var message: String {
            let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
            return ((object?["error"] as? [String: Any])?["message"] as? String) ?? String(decoding: body, as: UTF8.self)
        }
    }

    /// One request and its whole reply.
    public func request(_ method: String, _ path: String, json: Data? = nil) throws(NasError) -> Reply {
        let connection = try Connection(address)
        try connection.send(method, path, json: json, token: token)
        return try connection.readReply()
    }

    /// A connection kept open for many requests, one after another (HTTP/1.1
    /// keep-alive): what a client polling the daemon uses, and its benchmark.
    public final class Session {
        private let connection: Connection
        private let token: String?

        init(_ connection: Connection, token: String?) {
            self.connection = connection
            self.token = token
        }

        public func get(_ path: String) throws(NasError) -> Reply {
            try connection.send("GET", path, json: nil, token: token, keepAlive: true)
            return try connection.readReply()
        }
    }

    public func session() throws(NasError) -> Session { Session(try Connection(address), token: token) }

    /// A server-sent event as the daemon sends it.
    public struct Event: Sendable {
        public let id: Int?
        public let kind: String
        public let data: String
    }

    /// Follows an event stream, calling `handle` for each event until it returns false or the stream ends.
    public func follow(_ path: String, _ handle: (Event) -> Bool) throws(NasError) {
        let connection = try Connection(address)
        try connection.send("GET", path, json: nil, token: token)
        let (status, chunked, length) = try connection.readHead()
        guard status == 200 else {
            var body = Data()
            try connection.readBody(chunked: chunked, length: length) { body.append(contentsOf: $0); return true }
            throw .environment("the daemon refused \(path): \(Reply(status: status, body: body).message)")
        }
        var pending = ""
        try connection.readBody(chunked: chunked, length: length) { bytes in
            pending += String(decoding: bytes, as: UTF8.self)
            while let end = pending.range(of: "\n\n") {
                let block = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                var id: Int?, kind = "message", data = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
                    else if line.hasPrefix("event: ") { kind = String(line.dropFirst(7)) }
                    else if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                }
                if block.hasPrefix(":") { continue }  // a keep-alive comment
                if !handle(Event(id: id, kind: kind, data: data)) { return false }
            }
            return true
        }
    }
}

/// HTTP/1.1 exchanges on a socket (`Connection: close` unless kept alive);
/// the raw descriptor stays in here.
final class Connection {
    private let socket: Int32
    private var buffer: [UInt8] = []
    private let where_: String

    init(_ address: ListenAddress) throws(NasError) {
        where_ = address.description
        switch address {
        case let .unix(path):
            socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let capacity = MemoryLayout.size(ofValue: addr.sun_path)
            guard path.utf8.count < capacity else { throw .invalidInput("the daemon's socket path \(path) is too long for a Unix socket") }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard result == 0 else { throw failure("cannot connect") }
        case let .tcp(host, port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host, String(port), &hints, &found) == 0,
                  let first = found else { throw .environment("cannot resolve \(host), where the daemon listens") }
            defer { freeaddrinfo(found) }
            socket = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
            guard connect(socket, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { throw failure("cannot connect") }
        }
    }

    deinit { close(socket) }

    private func failure(_ what: String) -> NasError {
        .environment("\(what) to the daemon at \(where_) (\(String(cString: strerror(errno)))); is `nas serve` still running?")
    }

    func send(_ method: String, _ path: String, json: Data?, token: String?, keepAlive: Bool = false) throws(NasError) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n" + (keepAlive ? "" : "Connection: close\r\n")
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if json != nil { head += "Content-Type: application/json\r\n" }
        head += "Content-Length: \(json?.count ?? 0)\r\n\r\n"
        let bytes = Array(head.utf8) + Array(json ?? Data())
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
            guard n > 0 else { throw failure("cannot write") }
            offset += n
        }
    }

    func readReply() throws(NasError) -> DaemonClient.Reply {
        let (status, chunked, length) = try readHead()
        var body = Data()
        try readBody(chunked: chunked, length: length) { body.append(contentsOf: $0); return true }
        return DaemonClient.Reply(status: status, body: body)
    }

    /// The status, whether the body is chunked, and its length when given.
    func readHead() throws(NasError) -> (Int, Bool, Int?) {
        var lines: [String] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            lines.append(line)
        }
        guard let first = lines.first, first.hasPrefix("HTTP/1.1 "), let status = Int(first.split(separator: " ")[1]) else {
            throw .environment("the daemon at \(where_) answered something that is not HTTP")
        }
        let chunked = lines.contains { $0.lowercased() == "transfer-encoding: chunked" }
        let length = lines.first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        return (status, chunked, length)
    }

    /// Hands the body to `consume` as it arrives, until the end or until `consume` returns false.
    func readBody(chunked: Bool, length: Int?, _ consume: ([UInt8]) -> Bool) throws(NasError) {
        if let length, !chunked {
            while buffer.count < length {
                guard let more = try fill() else { throw .environment("the daemon closed the connection mid-reply") }
                buffer += more
            }
            let body = Array(buffer[0..<length])
            buffer.removeFirst(length)
            _ = consume(body)
            return
        }
        if !chunked {
            if !buffer.isEmpty, !consume(buffer) { return }
            buffer = []
            while let bytes = try fill() { if !consume(bytes) { return } }
            return
        }
        while true {
            guard let size = Int(try readLine(), radix: 16) else { throw .environment("the daemon sent a malformed chunk") }
            if size == 0 { return }
            while buffer.count < size + 2 {
                guard let more = try fill() else { throw .environment("the daemon closed the connection mid-reply") }
                buffer += more
            }
            let chunk = Array(buffer[0..<size])
            buffer.removeFirst(size + 2)
            if !consume(chunk) { return }
        }
    }

    private func readLine() throws(NasError) -> String {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<end], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                buffer.removeFirst(end + 1)
                return line
            }
            guard let more = try fill() else { throw .environment("the daemon at \(where_) closed the connection") }
            buffer += more
        }
    }

    /// The next bytes from the socket, nil at its end.
    private func fill() throws(NasError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16384)
        let n = read(socket, &bytes, bytes.count)
        if n < 0 { throw failure("cannot read") }
        return n == 0 ? nil : Array(bytes[0..<n])
    }
}

extension DaemonClient {
    /// A reply that is not a success, as the error the CLI reports (kinds as the API's statuses mean them).
    public func check(_ reply: Reply, _ what: String) throws(NasError) {
        switch reply.status {
        case 200..<300: return
        case 401: throw .invalidInput("the daemon at \(address) needs its token: set NASD_TOKEN to the contents of its --token-file")
        case 404: throw .notFound(reply.message)
        case 400..<500: throw .invalidInput(reply.message)
        default: throw .environment("the daemon could not \(what): \(reply.message)")
        }
    }
}
