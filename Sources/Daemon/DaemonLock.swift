import Core
import Foundation

/// One daemon per runs directory: an exclusive `flock` on `<runs>/nasd.lock`,
/// which holds the owner's pid for the message a second daemon gets. The
/// kernel drops the lock when its process dies (kill -9 included), so a
/// stale lock file never blocks a new daemon: only a live owner does. Once
/// listening, the daemon adds its address, for the CLI (`DaemonClient`).
final class DaemonLock: @unchecked Sendable {
    static let fileName = "nasd.lock"
    private let descriptor: Int32
    let path: String

    init(runs: String) throws(NasError) {
        path = runs + "/" + Self.fileName
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .environment("cannot open \(path) (\(String(cString: strerror(errno)))); check that \(runs) is writable")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw .invalidInput("another nasd (pid \(owner ?? "unknown")) serves \(runs); stop it first (kill -TERM \(owner ?? "<pid>")), or serve another --runs directory")
        }
        record("\(getpid())\n")
    }

    /// Adds where the daemon listens, under its pid.
    func record(address: ListenAddress) { record("\(getpid())\n\(address)\n") }

    private func record(_ text: String) {
        ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit {
        ftruncate(descriptor, 0)
        close(descriptor)
    }
}
