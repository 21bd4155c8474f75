import Core
@testable import Daemon
import Foundation
import Runs
import Testing

@Suite("Daemon: addresses, the API document, request bodies")
struct DaemonTests {
    @Test("--listen parses unix:PATH and HOST:PORT; only addresses beyond loopback need a token")
    func listen() throws {
        #expect(try ListenAddress(parsing: "unix:/tmp/x.sock") == .unix(path: "/tmp/x.sock"))
        #expect(try ListenAddress(parsing: "127.0.0.1:8080") == .tcp(host: "127.0.0.1", port: 8080))
        #expect(try ListenAddress(parsing: "[::1]:0") == .tcp(host: "::1", port: 0))
        for bad in ["unix:", "8080", "host:", "host:99999", ":80", "localhost:http"] {
            #expect(throws: NasError.self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
        #expect(try !ListenAddress(parsing: "127.0.0.1:1").needsToken)
        #expect(try !ListenAddress(parsing: "localhost:1").needsToken)
        #expect(try !ListenAddress(parsing: "unix:s").needsToken)
        #expect(try ListenAddress(parsing: "0.0.0.0:1").needsToken)
        #expect(try ListenAddress(parsing: "[::]:1").needsToken)
    }

    @Test("The embedded document is openapi.yaml as written (run scripts/embed-openapi.sh after editing it)")
    func embeddedDocument() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Daemon/openapi.yaml")
        #expect(OpenAPIDocument.yaml + "\n" == (try String(contentsOf: file, encoding: .utf8)))
    }

    @Test("A search body maps to nas search's options, and each refusal names its field")
    func searchBody() throws {
        let spaces = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("SearchSpaces").path
        let body = try SearchBody(json: Data(#"{"space": "tiny", "strategy": "rl", "budget": 7, "seed": 3, "target_ms": 0.5, "init": "he-normal", "hours": null}"#.utf8), spaces: spaces)
        #expect(body.request.strategy == .rl)
        #expect(body.request.budget == 7)
        #expect(body.request.seed == 3)
        #expect(body.request.targetMs == 0.5)
        #expect(body.request.initialisation == .heNormal)
        #expect(body.request.hours == nil)
        #expect(body.request.spacePath.hasSuffix("/tiny.yaml"))
        let refusals: [(String, String)] = [
            (#"{"space": "tiny", "seed": -1}"#, "seed"), (#"{"space": "tiny", "budget": true}"#, "budget"),
            (#"{"space": "tiny", "hours": "2"}"#, "hours"), (#"{"space": "tiny", "proxy": "fast"}"#, "proxy"),
            (#"{"space": "tiny", "space_yaml": "a: 1"}"#, "space"), (#"{}"#, "space"), (#"{"space": ".hidden"}"#, "space"),
            (#"{"space": "tiny", "extra": 1}"#, "extra"),
        ]
        for (json, field) in refusals {
            #expect(throws: InvalidField.self, "\(json)") { try SearchBody(json: Data(json.utf8), spaces: spaces) }
            do { _ = try SearchBody(json: Data(json.utf8), spaces: spaces) } catch let error as InvalidField {
                #expect(error.field == field, "\(json): \(error)")
            } catch {}
        }
        // The prepared request goes through nas search's own checks, with JSON spelling in messages.
        var request = body.request
        request.threads = 0
        #expect(throws: InvalidField.self) { try request.check(.json) }
        do { try request.check(.json) } catch { #expect(error.field == "threads" && error.message.contains("threads")) }
    }
}
