import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Folders and files that hold secrets — a vault, the forensic service's directory, owner keys —
/// are their owner's alone (0700, 0600), whatever the umask of the process that makes them: the
/// `tracemark` binary sets a strict umask, a process that embeds the library may not.
public enum OwnerOnlyFiles {
    /// Makes `url` and any missing parent folders 0700; a folder that exists is left as it is.
    public static func createDirectory(at url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Writes `data` to `url` atomically as a 0600 file: a temporary file created 0600 (never
    /// readable by others, not even for a moment), then renamed over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw VaultError.storage(path: url.path, reason: "cannot create (\(String(cString: strerror(errno))))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw VaultError.storage(path: url.path, reason: "cannot rename into place (\(String(cString: strerror(errno))))")
            }
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// Creates an empty 0600 file at `path` when there is none, so that whatever opens it next
    /// (SQLite, which gives its -wal and -shm files the database file's mode) keeps that mode.
    static func createEmptyFile(atPath path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw VaultError.storage(path: path, reason: "cannot create (\(String(cString: strerror(errno))))") }
        close(descriptor)
    }
}
