import Engine
import Foundation

/// An owner's vault: sealed watermark secrets and the signed, hash-chained log of their
/// registrations, over a `VaultStore`.
public final class Vault {
    public let store: VaultStore
    public let owner: PublicKey

    /// Opens the vault in `directory`. A new vault is created there only when `creatingFor` gives
    /// the owner's key; an existing vault must belong to that owner.
    public static func open(directory: URL, creatingFor newOwner: PublicKey? = nil) throws -> Vault {
        if newOwner != nil { try OwnerOnlyFiles.createDirectory(at: directory) }
        let store = try SQLiteVaultStore(directory: directory, create: newOwner != nil)
        return try Vault(store: store, newOwner: newOwner)
    }

    public init(store: VaultStore, newOwner: PublicKey? = nil) throws {
        self.store = store
        if let pem = try store.ownerPublicKey() {
            owner = try PublicKey(pem: pem)
            if let newOwner, newOwner.keyID != owner.keyID {
                throw VaultError.invalidInput("this vault belongs to key \(owner.keyID), not \(newOwner.keyID)")
            }
        } else if let newOwner {
            try store.setOwnerPublicKey(newOwner.pem)
            owner = newOwner
        } else {
            throw VaultError.damaged("the vault has no owner key")
        }
    }

    /// Seals `secret`, stores it and appends a signed log entry, all in one transaction.
    public func register(_ secret: SealedSecret, modelDigest: String, signer: SigningKey, unlocking: Unlocking,
                         now: Date = Date()) throws -> (record: SealedRecord, entry: RegistrationEntry) {
        let ownerKeyID = owner.keyID
        guard signer.publicKey.keyID == ownerKeyID else {
            throw VaultError.invalidInput("the signing key \(signer.publicKey.keyID) is not this vault's owner key \(ownerKeyID)")
        }
        let id = hex(try secureRandomBytes(16))
        let associatedData = SealedRecord.associatedData(id: id, ownerKeyID: ownerKeyID)
        let dataKey = try secureRandomBytes(AESGCM.keySize)
        let time = Self.timestamp(now)
        let record = SealedRecord(id: id, created: time, ownerKeyId: ownerKeyID, modelDigest: modelDigest,
                                  commitment: secret.commitment,
                                  contents: try AESGCM.seal(try CanonicalJSON.encode(secret), key: dataKey, associatedData: associatedData),
                                  keyWrap: try unlocking.wrap(dataKey, associatedData: associatedData))
        let signedRecord = try sign(record, type: SealedRecord.payloadType, with: signer)
        var entry: RegistrationEntry? = nil
        try store.register(recordID: id, record: signedRecord) { index, previous in
            let made = RegistrationEntry(index: index, time: time, commitment: record.commitment, modelDigest: modelDigest,
                                         ownerKeyId: ownerKeyID, recordId: id,
                                         previousHash: previous.map(RegistrationEntry.hash(of:)) ?? RegistrationEntry.genesisHash)
            entry = made
            return try sign(made, type: RegistrationEntry.payloadType, with: signer)
        }
        return (record, entry!)
    }

    /// The log entries as stored (not verified: `verify()` does that).
    public func entries() throws -> [RegistrationEntry] {
        try store.entries().enumerated().map { index, blob in
            do { return try CanonicalJSON.decode(RegistrationEntry.self, from: blob.payload) } catch {
                throw VaultError.damaged("log entry \(index) does not parse")
            }
        }
    }

    /// A record whose signature verifies.
    public func record(id: String) throws -> SealedRecord {
        guard let blob = try store.record(id: id) else { throw VaultError.notFound("sealed record \(id)") }
        guard owner.verify(blob, type: SealedRecord.payloadType),
              let record = try? CanonicalJSON.decode(SealedRecord.self, from: blob.payload), record.id == id else {
            throw VaultError.damaged("sealed record \(id) fails its signature check")
        }
        return record
    }

    /// Decrypts a record's secret and checks it against the record's commitment.
    public func unseal(id: String, unlocking: Unlocking) throws -> SealedSecret {
        let record = try record(id: id)
        let associatedData = SealedRecord.associatedData(id: record.id, ownerKeyID: record.ownerKeyId)
        let dataKey = try unlocking.unwrap(record.keyWrap, associatedData: associatedData)
        guard let plaintext = AESGCM.open(record.contents, key: dataKey, associatedData: associatedData),
              let secret = try? CanonicalJSON.decode(SealedSecret.self, from: plaintext) else {
            throw VaultError.damaged("sealed record \(id) does not decrypt")
        }
        guard secret.commitment == record.commitment else { throw VaultError.damaged("sealed record \(id) does not match its commitment") }
        return secret
    }

    /// Signs `payload` as `type` and keeps it beside sealed record `id`, replacing any earlier
    /// document of that type there. The signature names the record too, so a document cannot
    /// be moved to another record.
    public func attach(_ payload: Data, type: String, to id: String, signer: SigningKey) throws {
        guard signer.publicKey.keyID == owner.keyID else {
            throw VaultError.invalidInput("the signing key \(signer.publicKey.keyID) is not this vault's owner key \(owner.keyID)")
        }
        _ = try record(id: id)
        let signature = try signer.sign(preAuthenticationEncoding(type: Self.attachmentType(type, record: id), body: payload))
        try store.setAttachment(recordID: id, kind: type, SignedBlob(payload: payload, signature: signature))
    }

    /// The document of `type` beside record `id`, nil when there is none; its signature must verify.
    public func attachment(type: String, of id: String) throws -> Data? {
        guard let blob = try store.attachment(recordID: id, kind: type) else { return nil }
        guard owner.verify(blob, type: Self.attachmentType(type, record: id)) else {
            throw VaultError.damaged("the \(type) document of record \(id) fails its signature check")
        }
        return blob.payload
    }

    /// The payload type an attachment is signed under: its own, with the record as a parameter.
    static func attachmentType(_ type: String, record id: String) -> String { "\(type); record=\(id)" }

    /// Every check a third party can make without the passphrase: the database's integrity,
    /// the owner key (against `pinnedKey` when given), each record's and entry's signature, the
    /// indices, the hash chain, and that entries and records agree one to one.
    public func verify(pinnedKey: PublicKey? = nil) throws -> VaultVerification {
        var problems = try store.integrityProblems()
        if let pinnedKey, pinnedKey.keyID != owner.keyID {
            problems.append("the vault's owner key \(owner.keyID) is not the expected key \(pinnedKey.keyID)")
        }
        var records: [String: SealedRecord] = [:]
        let recordIDs = try store.recordIDs()
        for id in recordIDs {
            guard let blob = try store.record(id: id) else { continue }
            guard owner.verify(blob, type: SealedRecord.payloadType) else {
                problems.append("sealed record \(id): signature does not verify"); continue
            }
            guard let record = try? CanonicalJSON.decode(SealedRecord.self, from: blob.payload), record.format == SealedRecord.format else {
                problems.append("sealed record \(id): signed but not a \(SealedRecord.format) record"); continue
            }
            guard record.id == id, record.ownerKeyId == owner.keyID else {
                problems.append("sealed record \(id): names record \(record.id) of key \(record.ownerKeyId)"); continue
            }
            records[id] = record
        }
        var previousHash = RegistrationEntry.genesisHash
        var referenced = Set<String>()
        let blobs = try store.entries()
        for (index, blob) in blobs.enumerated() {
            defer { previousHash = RegistrationEntry.hash(of: blob) }
            guard owner.verify(blob, type: RegistrationEntry.payloadType) else {
                problems.append("log entry \(index): signature does not verify"); continue
            }
            guard let entry = try? CanonicalJSON.decode(RegistrationEntry.self, from: blob.payload), entry.format == RegistrationEntry.format else {
                problems.append("log entry \(index): signed but not a \(RegistrationEntry.format) entry"); continue
            }
            if entry.index != index { problems.append("log entry \(index): says it is entry \(entry.index)") }
            if entry.previousHash != previousHash { problems.append("log entry \(index): the hash chain breaks (previous hash does not match entry \(index - 1))") }
            if entry.ownerKeyId != owner.keyID { problems.append("log entry \(index): signed for key \(entry.ownerKeyId)") }
            if let record = records[entry.recordId] {
                if record.commitment != entry.commitment || record.modelDigest != entry.modelDigest {
                    problems.append("log entry \(index): commitment or model digest differs from sealed record \(entry.recordId)")
                }
            } else if !recordIDs.contains(entry.recordId) {
                problems.append("log entry \(index): its sealed record \(entry.recordId) is missing")
            }
            referenced.insert(entry.recordId)
        }
        for id in recordIDs where !referenced.contains(id) {
            problems.append("sealed record \(id): no log entry registers it")
        }
        for attachment in try store.attachments()
        where !owner.verify(attachment.blob, type: Self.attachmentType(attachment.kind, record: attachment.recordID)) {
            problems.append("the \(attachment.kind) document of record \(attachment.recordID): signature does not verify")
        }
        return VaultVerification(ownerKeyId: owner.keyID, entries: blobs.count, records: recordIDs.count, problems: problems)
    }

    private func sign<T: Encodable>(_ value: T, type: String, with signer: SigningKey) throws -> SignedBlob {
        let payload = try CanonicalJSON.encode(value)
        return SignedBlob(payload: payload, signature: try signer.sign(preAuthenticationEncoding(type: type, body: payload)))
    }

    /// RFC 3339 UTC to the second, as registrations and calibrations record time.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

/// The outcome of `Vault.verify`: sound when there are no problems; the first problem names the
/// first bad record or entry.
public struct VaultVerification: Codable, Equatable, Sendable {
    public var ownerKeyId: String
    public var entries: Int
    public var records: Int
    public var problems: [String]
    public var isSound: Bool { problems.isEmpty }
}

extension PublicKey {
    /// Whether `blob` was signed by this key as a payload of `type` (over DSSE's pre-authentication encoding).
    func verify(_ blob: SignedBlob, type: String) -> Bool {
        verify(blob.signature, of: preAuthenticationEncoding(type: type, body: blob.payload))
    }
}
