import Core
import Foundation

/// One daemon per runs directory: an exclusive `flock` on `<runs>/nasd.lock`,
/// which holds the owner's pid for the message a second daemon gets. The
/// kernel drops the lock when its process dies (kill -9 included), so a
/// stale lock file never blocks a new daemon: only a live owner does.
final class DaemonLock {
    private let descriptor: Int32
    let path: String

    init(runs: String) throws(NasError) {
        path = runs + "/nasd.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .environment("cannot open \(path) (\(String(cString: strerror(errno)))); check that \(runs) is writable")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw .invalidInput("another nasd (pid \(owner ?? "unknown")) serves \(runs); stop it first (kill -TERM \(owner ?? "<pid>")), or serve another --runs directory")
        }
        let pid = "\(getpid())\n"
        ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit {
        ftruncate(descriptor, 0)
        close(descriptor)
    }
}
