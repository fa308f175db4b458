import Engine
import Foundation
import Vault

/// The service's own state, in its own SQLite file beside the vault's: tenants (their API
/// tokens only as SHA-256), the watermarks they registered and their investigations. Every
/// read of a tenant's data names the tenant, so one tenant's ids never resolve for another.
final class ServiceStore: @unchecked Sendable {
    static let fileName = "service.sqlite"
    private let database: SQLiteDatabase

    init(directory: URL) throws {
        database = try SQLiteDatabase(path: directory.appendingPathComponent(Self.fileName).path, create: true)
        try database.execute("""
            PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
            CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_sha256 TEXT NOT NULL UNIQUE,
                                                created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS watermarks (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL,
                                                   dataset TEXT NOT NULL, record_id TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS investigations (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                                                       watermark_id TEXT NOT NULL REFERENCES watermarks(id), request BLOB NOT NULL,
                                                       status TEXT NOT NULL, done INTEGER NOT NULL, total INTEGER NOT NULL,
                                                       failed INTEGER NOT NULL, verdict TEXT, error TEXT,
                                                       created TEXT NOT NULL, updated TEXT NOT NULL);
            """)
        // Columns added after the first service directories were made; added on open so those gain them too.
        for (table, column, definition) in [("watermarks", "sealed_bytes", "INTEGER NOT NULL DEFAULT 0"),
                                            ("watermarks", "idempotency_key", "TEXT"), ("watermarks", "request_sha256", "TEXT"),
                                            ("investigations", "starts", "INTEGER NOT NULL DEFAULT 0")] {
            let columns = try database.rows("SELECT name FROM pragma_table_info('\(table)')").compactMap { $0[0].string }
            if !columns.contains(column) { try database.execute("ALTER TABLE \(table) ADD COLUMN \(column) \(definition)") }
        }
        try database.execute("CREATE UNIQUE INDEX IF NOT EXISTS watermarks_idempotency ON watermarks (tenant_id, idempotency_key)")
    }

    // MARK: Tenants

    /// Adds a tenant and returns its API token, which is stored only as its SHA-256: this is
    /// the one time anyone sees it.
    func addTenant(name: String, now: Date = Date()) throws -> (tenant: Tenant, token: String) {
        guard try database.rows("SELECT 1 FROM tenants WHERE name = ?", [.text(name)]).isEmpty else {
            throw ServiceError.conflict("tenant_exists", "a tenant named '\(name)' exists")
        }
        let tenant = Tenant(id: "tn_" + hex(try secureRandomBytes(8)), name: name, created: Vault.timestamp(now))
        let token = "tmk_" + hex(try secureRandomBytes(32))
        try database.rows("INSERT INTO tenants VALUES (?, ?, ?, ?)",
                          [.text(tenant.id), .text(name), .text(Self.tokenDigest(token)), .text(tenant.created)])
        return (tenant, token)
    }

    func tenants() throws -> [Tenant] {
        try database.rows("SELECT id, name, created FROM tenants ORDER BY created, name").map(Tenant.init)
    }

    /// The tenant a token belongs to. Tokens carry 256 random bits, so one unsalted SHA-256
    /// is enough to make the stored digests useless to whoever reads the database.
    func tenant(token: String) throws -> Tenant? {
        try database.rows("SELECT id, name, created FROM tenants WHERE token_sha256 = ?", [.text(Self.tokenDigest(token))]).first.map(Tenant.init)
    }

    static func tokenDigest(_ token: String) -> String { sha256Hex(Data(token.utf8)) }

    // MARK: Watermarks

    private static let watermarkColumns = "id, tenant_id, name, dataset, record_id, created, sealed_bytes"

    /// `idempotency` is the request's `Idempotency-Key` and its body's SHA-256: stored in the
    /// same row, so a watermark and the key that made it are written together or not at all.
    func addWatermark(tenant: Tenant, name: String, dataset: String, recordID: String, sealedBytes: Int,
                      idempotency: (key: String, requestSha256: String)?, now: Date = Date()) throws -> WatermarkRow {
        let row = WatermarkRow(id: "wm_" + hex(try secureRandomBytes(12)), tenantID: tenant.id, name: name, dataset: dataset,
                               recordID: recordID, created: Vault.timestamp(now), sealedBytes: sealedBytes)
        try database.rows("""
            INSERT INTO watermarks (\(Self.watermarkColumns), idempotency_key, request_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(row.id), .text(row.tenantID), .text(name), .text(dataset), .text(recordID), .text(row.created),
                  .integer(Int64(sealedBytes)), idempotency.map { SQLiteValue.text($0.key) } ?? .null, idempotency.map { SQLiteValue.text($0.requestSha256) } ?? .null])
        return row
    }

    func watermarks(of tenant: Tenant) throws -> [WatermarkRow] {
        try database.rows("SELECT \(Self.watermarkColumns) FROM watermarks WHERE tenant_id = ? ORDER BY created, id",
                          [.text(tenant.id)]).map(WatermarkRow.init)
    }

    func watermark(_ id: String, of tenant: Tenant) throws -> WatermarkRow? {
        try watermark(id, tenantID: tenant.id)
    }

    func watermark(_ id: String, tenantID: String) throws -> WatermarkRow? {
        try database.rows("SELECT \(Self.watermarkColumns) FROM watermarks WHERE id = ? AND tenant_id = ?",
                          [.text(id), .text(tenantID)]).first.map(WatermarkRow.init)
    }

    /// The watermark the tenant registered under `idempotencyKey`, and the SHA-256 of that request's body.
    func watermark(idempotencyKey: String, of tenant: Tenant) throws -> (row: WatermarkRow, requestSha256: String)? {
        try database.rows("SELECT \(Self.watermarkColumns), request_sha256 FROM watermarks WHERE tenant_id = ? AND idempotency_key = ?",
                          [.text(tenant.id), .text(idempotencyKey)]).first.map { (WatermarkRow($0), $0[7].string ?? "") }
    }

    /// What the tenant's watermarks take against its quotas.
    func watermarkUsage(of tenant: Tenant) throws -> (watermarks: Int, sealedBytes: Int) {
        let row = try database.rows("SELECT COUNT(*), COALESCE(SUM(sealed_bytes), 0) FROM watermarks WHERE tenant_id = ?", [.text(tenant.id)])[0]
        return (Int(row[0].integer ?? 0), Int(row[1].integer ?? 0))
    }

    // MARK: Investigations

    /// Adds a queued investigation unless the tenant has `limit` unfinished ones already (nil
    /// then): counted and inserted in one statement, so two requests at once cannot both pass.
    func addInvestigation(tenant: Tenant, watermark: WatermarkRow, request: InvestigationRequest, total: Int, limit: Int,
                          now: Date = Date()) throws -> InvestigationRow? {
        let time = Vault.timestamp(now)
        let row = InvestigationRow(id: "inv_" + hex(try secureRandomBytes(12)), tenantID: tenant.id, watermarkID: watermark.id,
                                   request: request, status: .queued, done: 0, total: total, failed: 0, verdict: nil, error: nil,
                                   created: time, updated: time)
        let added = try database.rows("""
            INSERT INTO investigations (\(Self.investigationColumns))
            SELECT ?, ?, ?, ?, ?, 0, ?, 0, NULL, NULL, ?, ?
            WHERE (SELECT COUNT(*) FROM investigations WHERE tenant_id = ? AND status IN \(Self.unfinished)) < ?
            RETURNING id
            """, [.text(row.id), .text(tenant.id), .text(watermark.id), .blob(try CanonicalJSON.encode(request)),
                  .text(row.status.rawValue), .integer(Int64(total)), .text(time), .text(time), .text(tenant.id), .integer(Int64(limit))])
        return added.isEmpty ? nil : row
    }

    /// The statuses of investigations that have not ended, as an SQL list.
    private static let unfinished = "('queued', 'running', 'reporting')"

    private static let investigationColumns =
        "id, tenant_id, watermark_id, request, status, done, total, failed, verdict, error, created, updated"

    func investigations(of tenant: Tenant) throws -> [InvestigationRow] {
        try database.rows("SELECT \(Self.investigationColumns) FROM investigations WHERE tenant_id = ? ORDER BY created, id",
                          [.text(tenant.id)]).map(InvestigationRow.init)
    }

    func investigation(_ id: String, of tenant: Tenant) throws -> InvestigationRow? {
        try database.rows("SELECT \(Self.investigationColumns) FROM investigations WHERE id = ? AND tenant_id = ?",
                          [.text(id), .text(tenant.id)]).first.map(InvestigationRow.init)
    }

    /// For the job runner only: an investigation whoever owns it.
    func investigation(_ id: String) throws -> InvestigationRow? {
        try database.rows("SELECT \(Self.investigationColumns) FROM investigations WHERE id = ?", [.text(id)]).first.map(InvestigationRow.init)
    }

    /// Investigations a stopped service left unfinished, oldest first, with how often each was started.
    func unfinishedInvestigations() throws -> [(id: String, tenantID: String, starts: Int)] {
        try database.rows("SELECT id, tenant_id, starts FROM investigations WHERE status IN \(Self.unfinished) ORDER BY created, id")
            .map { ($0[0].string!, $0[1].string!, Int($0[2].integer ?? 0)) }
    }

    func requeueRunning() throws {
        try database.rows("UPDATE investigations SET status = 'queued' WHERE status = 'running'")
    }

    /// Counts a start of the investigation; its status, nil when it has ended (been cancelled) meanwhile.
    func start(_ id: String, now: Date = Date()) throws -> InvestigationStatus? {
        try database.rows("UPDATE investigations SET starts = starts + 1, updated = ? WHERE id = ? AND status IN \(Self.unfinished) RETURNING status",
                          [.text(Vault.timestamp(now)), .text(id)]).first.flatMap { $0[0].string.flatMap { InvestigationStatus(rawValue: $0) } }
    }

    /// Moves an unfinished investigation on; one that has ended (been cancelled) stays as it is.
    func update(_ id: String, status: InvestigationStatus, verdict: String? = nil, error: String? = nil, now: Date = Date()) throws {
        try database.rows("UPDATE investigations SET status = ?, verdict = ?, error = ?, updated = ? WHERE id = ? AND status IN \(Self.unfinished)",
                          [.text(status.rawValue), verdict.map(SQLiteValue.text) ?? .null, error.map(SQLiteValue.text) ?? .null,
                           .text(Vault.timestamp(now)), .text(id)])
    }

    /// Ends an unfinished investigation as cancelled; false when it had ended already.
    func cancel(_ id: String, now: Date = Date()) throws -> Bool {
        try !database.rows("UPDATE investigations SET status = 'cancelled', updated = ? WHERE id = ? AND status IN \(Self.unfinished) RETURNING id",
                           [.text(Vault.timestamp(now)), .text(id)]).isEmpty
    }

    func updateProgress(_ id: String, done: Int, total: Int, failed: Int, now: Date = Date()) throws {
        try database.rows("UPDATE investigations SET done = ?, total = ?, failed = ?, updated = ? WHERE id = ?",
                          [.integer(Int64(done)), .integer(Int64(total)), .integer(Int64(failed)), .text(Vault.timestamp(now)), .text(id)])
    }
}

struct Tenant: Sendable, Equatable {
    var id: String
    var name: String
    var created: String
}

struct WatermarkRow: Sendable {
    var id: String
    var tenantID: String
    var name: String
    var dataset: String
    var recordID: String
    var created: String
    /// The bytes the vault keeps sealed for it: spec, trigger set, autoencoder weights.
    var sealedBytes: Int
}

enum InvestigationStatus: String, Codable, Sendable {
    case queued, running, reporting, done, failed, cancelled
}

struct InvestigationRow: Sendable {
    var id: String
    var tenantID: String
    var watermarkID: String
    var request: InvestigationRequest
    var status: InvestigationStatus
    var done: Int
    var total: Int
    var failed: Int
    var verdict: String?
    var error: String?
    var created: String
    var updated: String
}

// Rows as the SELECTs above list their columns; the NOT NULL ones are unwrapped.

extension Tenant {
    init(_ row: [SQLiteValue]) {
        self.init(id: row[0].string!, name: row[1].string!, created: row[2].string!)
    }
}

extension WatermarkRow {
    init(_ row: [SQLiteValue]) {
        self.init(id: row[0].string!, tenantID: row[1].string!, name: row[2].string!, dataset: row[3].string!, recordID: row[4].string!,
                  created: row[5].string!, sealedBytes: Int(row[6].integer ?? 0))
    }
}

extension InvestigationRow {
    init(_ row: [SQLiteValue]) throws {
        self.init(id: row[0].string!, tenantID: row[1].string!, watermarkID: row[2].string!,
                  request: try CanonicalJSON.decode(InvestigationRequest.self, from: row[3].data ?? Data()),
                  status: InvestigationStatus(rawValue: row[4].string ?? "") ?? .failed,
                  done: Int(row[5].integer ?? 0), total: Int(row[6].integer ?? 0), failed: Int(row[7].integer ?? 0),
                  verdict: row[8].string, error: row[9].string, created: row[10].string!, updated: row[11].string!)
    }
}
