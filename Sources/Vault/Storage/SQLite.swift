import CSQLite
import Foundation

/// A thin handle on one SQLite database file: statements with bound parameters, and
/// transactions. Errors carry SQLite's own message and the file's path.
public final class SQLiteDatabase {
    public let path: String
    private let handle: OpaquePointer

    /// A database made here is 0600, and so are its -wal and -shm files.
    public init(path: String, create: Bool) throws {
        self.path = path
        if create { try OwnerOnlyFiles.createEmptyFile(atPath: path) }
        var opened: OpaquePointer? = nil
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0)
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let reason = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close(opened)
            throw VaultError.storage(path: path, reason: "cannot open (\(reason))")
        }
        handle = opened
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit { sqlite3_close(handle) }

    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>? = nil
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard status == SQLITE_OK else { throw failure(status, message.map { String(cString: $0) }) }
    }

    /// Runs `sql` with `parameters` bound in order, returning every result row.
    @discardableResult
    public func rows(_ sql: String, _ parameters: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        var statement: OpaquePointer? = nil
        var status = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status) }
        defer { sqlite3_finalize(statement) }
        for (offset, parameter) in parameters.enumerated() {
            let index = Int32(offset + 1)
            switch parameter {
            case .integer(let value): status = sqlite3_bind_int64(statement, index, value)
            case .text(let value): status = tm_sqlite3_bind_text_copy(statement, index, value, Int32(value.utf8.count))
            case .blob(let value): status = value.withUnsafeBytes { tm_sqlite3_bind_blob_copy(statement, index, $0.baseAddress, Int32($0.count)) }
            case .null: status = sqlite3_bind_null(statement, index)
            }
            guard status == SQLITE_OK else { throw failure(status) }
        }
        var result: [[SQLiteValue]] = []
        while true {
            status = sqlite3_step(statement)
            if status == SQLITE_DONE { return result }
            guard status == SQLITE_ROW else { throw failure(status) }
            result.append((0..<sqlite3_column_count(statement)).map { column(statement, $0) })
        }
    }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT: all of it lands or none of it.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private func column(_ statement: OpaquePointer, _ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(statement, index)))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let bytes = sqlite3_column_blob(statement, index) else { return .blob(Data()) }
            return .blob(Data(bytes: bytes, count: count))
        default: return .null
        }
    }

    private func failure(_ status: Int32, _ message: String? = nil) -> VaultError {
        let reason = message ?? String(cString: sqlite3_errmsg(handle))
        switch status & 0xFF {
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return .storage(path: path, reason: "the database is damaged or truncated (SQLite: \(reason))")
        default:
            return .storage(path: path, reason: reason)
        }
    }
}

public enum SQLiteValue: Equatable, Sendable {
    case integer(Int64)
    case text(String)
    case blob(Data)
    case null

    public var data: Data? { if case .blob(let value) = self { return value }; return nil }
    public var string: String? { if case .text(let value) = self { return value }; return nil }
    public var integer: Int64? { if case .integer(let value) = self { return value }; return nil }
}
