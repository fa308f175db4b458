import Foundation

/// Signed bytes as stored: the exact payload that was signed and its Ed25519 signature.
public struct SignedBlob: Equatable, Sendable {
    public var payload: Data
    public var signature: Data

    public init(payload: Data, signature: Data) {
        self.payload = payload
        self.signature = signature
    }
}

/// Where a vault keeps its owner key, sealed records and registration log. The embedded default
/// is SQLite (`SQLiteVaultStore`); a server store (PostgreSQL) implements the same calls.
public protocol VaultStore: AnyObject {
    /// The owner's public key PEM, once the vault has one.
    func ownerPublicKey() throws -> Data?
    /// Records the owner's public key; only on a vault that has none.
    func setOwnerPublicKey(_ pem: Data) throws
    func recordIDs() throws -> [String]
    func record(id: String) throws -> SignedBlob?
    /// The log in order of index.
    func entries() throws -> [SignedBlob]
    /// Stores a sealed record and appends its log entry as one transaction. `makeEntry` gets
    /// the new entry's index and the previous entry (nil for the first) and returns the signed entry.
    func register(recordID: String, record: SignedBlob, makeEntry: (_ index: Int, _ previous: SignedBlob?) throws -> SignedBlob) throws
    /// A signed document kept beside a sealed record (a calibration), one per kind, replaced by
    /// a newer one of the same kind.
    func attachment(recordID: String, kind: String) throws -> SignedBlob?
    func setAttachment(recordID: String, kind: String, _ blob: SignedBlob) throws
    func attachments() throws -> [(recordID: String, kind: String, blob: SignedBlob)]
    /// A store-level integrity check; the problems found, empty when sound.
    func integrityProblems() throws -> [String]
}
