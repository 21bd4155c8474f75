import Foundation
import RunStore
import Runs
import Search

/// Runs opened for reading, kept between requests: opening a run's store
/// (a SQLite pool, its pragmas) and decoding its configuration cost more
/// than the query a request makes. A run whose database file was replaced
/// (another inode) is opened again.
final class OpenRuns: @unchecked Sendable {
    let folder: RunsFolder
    private let lock = NSLock()
    private var opened: [RunName: (inode: UInt64, store: any RunStore, configuration: SearchConfiguration)] = [:]

    init(folder: RunsFolder) { self.folder = folder }

    func open(_ name: RunName) throws -> (store: any RunStore, configuration: SearchConfiguration) {
        // A run on a PostgreSQL server has no file to be replaced: its connection is kept.
        if try folder.postgres() != nil {
            if let cached = lock.withLock({ opened[name] }) { return (cached.store, cached.configuration) }
            let (store, configuration) = try folder.open(name)
            lock.withLock { opened[name] = (0, store, configuration) }
            return (store, configuration)
        }
        var info = stat()
        let path = try folder.databasePath(name)
        let inode = stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
        if inode != 0, let cached = lock.withLock({ opened[name] }), cached.inode == inode {
            return (cached.store, cached.configuration)
        }
        let (store, configuration) = try folder.open(name)
        if inode != 0 { lock.withLock { opened[name] = (inode, store, configuration) } }
        return (store, configuration)
    }
}
