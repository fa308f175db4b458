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

    /// Writes `data` to `url` atomically as a 0600 file.
    public static func write(_ data: Data, to url: URL) throws {
        try data.write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
    }

    /// Creates an empty 0600 file at `path` when there is none, so that whatever opens it next
    /// (SQLite, which gives its -wal and -shm files the database file's mode) keeps that mode.
    static func createEmptyFile(atPath path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw VaultError.storage(path: path, reason: "cannot create (\(String(cString: strerror(errno))))") }
        close(descriptor)
    }
}
