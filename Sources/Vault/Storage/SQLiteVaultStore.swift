import Foundation

/// The embedded vault store: one SQLite file, `vault.sqlite`, in write-ahead-log mode with full
/// sync, so a registration that returned has reached the disk and a crash leaves either all of
/// a registration or none of it.
///
/// Why the system libsqlite3 and not GRDB: the vault needs a handful of statements and
/// transactions, which a 100-line wrapper over the C API (the same system-library pattern as
/// OpenSSL and libcurl) gives without a package dependency and its build time.
public final class SQLiteVaultStore: VaultStore {
    public static let fileName = "vault.sqlite"
    static let schemaVersion: Int64 = 1
    private let database: SQLiteDatabase

    /// Opens the store in `directory`; creates it there when `create` is set and it is absent.
    public init(directory: URL, create: Bool) throws {
        let path = directory.appendingPathComponent(Self.fileName).path
        let exists = FileManager.default.fileExists(atPath: path)
        guard exists || create else { throw VaultError.notFound("vault database \(path)") }
        database = try SQLiteDatabase(path: path, create: create)
        try database.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON")
        if !exists {
            try database.transaction {
                try database.execute("""
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
                    CREATE TABLE sealed_records (id TEXT PRIMARY KEY, payload BLOB NOT NULL, signature BLOB NOT NULL);
                    CREATE TABLE log_entries (idx INTEGER PRIMARY KEY, record_id TEXT NOT NULL UNIQUE REFERENCES sealed_records(id),
                                              payload BLOB NOT NULL, signature BLOB NOT NULL);
                    """)
                try database.rows("INSERT INTO meta VALUES ('schema_version', ?)", [.integer(Self.schemaVersion)])
            }
        }
        let version: Int64?
        do {
            version = try database.rows("SELECT value FROM meta WHERE key = 'schema_version'").first?.first?.integer
        } catch VaultError.storage(_, let reason) {
            throw VaultError.storage(path: path, reason: "not a readable Tracemark vault database, perhaps truncated (\(reason))")
        }
        guard version == Self.schemaVersion else {
            throw VaultError.storage(path: path, reason: "not a Tracemark vault database (schema version \(version.map(String.init) ?? "missing"))")
        }
        // Added after the first vaults were made; created on open so they gain it too.
        try database.execute("""
            CREATE TABLE IF NOT EXISTS attachments (record_id TEXT NOT NULL REFERENCES sealed_records(id), kind TEXT NOT NULL,
                                                    payload BLOB NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (record_id, kind))
            """)
    }

    public func ownerPublicKey() throws -> Data? {
        try database.rows("SELECT value FROM meta WHERE key = 'owner_public_key'").first?.first?.data
    }

    public func setOwnerPublicKey(_ pem: Data) throws {
        try database.transaction {
            guard try ownerPublicKey() == nil else { throw VaultError.invalidInput("the vault already has an owner key") }
            try database.rows("INSERT INTO meta VALUES ('owner_public_key', ?)", [.blob(pem)])
        }
    }

    public func recordIDs() throws -> [String] {
        try database.rows("SELECT id FROM sealed_records ORDER BY id").compactMap { $0[0].string }
    }

    public func record(id: String) throws -> SignedBlob? {
        try database.rows("SELECT payload, signature FROM sealed_records WHERE id = ?", [.text(id)]).first.map(signedBlob)
    }

    public func entries() throws -> [SignedBlob] {
        try database.rows("SELECT payload, signature FROM log_entries ORDER BY idx").map(signedBlob)
    }

    public func register(recordID: String, record: SignedBlob,
                         makeEntry: (_ index: Int, _ previous: SignedBlob?) throws -> SignedBlob) throws {
        try database.transaction {
            try database.rows("INSERT INTO sealed_records VALUES (?, ?, ?)", [.text(recordID), .blob(record.payload), .blob(record.signature)])
            let last = try database.rows("SELECT idx, payload, signature FROM log_entries ORDER BY idx DESC LIMIT 1").first
            let index = Int(last?[0].integer ?? -1) + 1
            let entry = try makeEntry(index, last.map { signedBlob(Array($0.dropFirst())) })
            try database.rows("INSERT INTO log_entries VALUES (?, ?, ?, ?)",
                              [.integer(Int64(index)), .text(recordID), .blob(entry.payload), .blob(entry.signature)])
        }
    }

    public func attachment(recordID: String, kind: String) throws -> SignedBlob? {
        try database.rows("SELECT payload, signature FROM attachments WHERE record_id = ? AND kind = ?", [.text(recordID), .text(kind)])
            .first.map(signedBlob)
    }

    public func setAttachment(recordID: String, kind: String, _ blob: SignedBlob) throws {
        try database.rows("INSERT OR REPLACE INTO attachments VALUES (?, ?, ?, ?)",
                          [.text(recordID), .text(kind), .blob(blob.payload), .blob(blob.signature)])
    }

    public func attachments() throws -> [(recordID: String, kind: String, blob: SignedBlob)] {
        try database.rows("SELECT record_id, kind, payload, signature FROM attachments ORDER BY record_id, kind").map {
            ($0[0].string ?? "", $0[1].string ?? "", signedBlob(Array($0.dropFirst(2))))
        }
    }

    public func integrityProblems() throws -> [String] {
        let answers = try database.rows("PRAGMA quick_check").compactMap { $0.first?.string }
        return answers == ["ok"] ? [] : answers.map { "SQLite integrity check: \($0)" }
    }

    private func signedBlob(_ row: [SQLiteValue]) -> SignedBlob {
        SignedBlob(payload: row[0].data ?? Data(), signature: row[1].data ?? Data())
    }
}
