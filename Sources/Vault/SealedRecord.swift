import Engine
import Foundation

/// What a vault keeps secret about one watermark: the canonical spec, the commitment's salt and
/// the files that go with it (the trigger set, autoencoder weights), by name.
public struct SealedSecret: Codable, Equatable, Sendable {
    public struct File: Codable, Equatable, Sendable {
        public var name: String
        public var contents: Data
        public init(name: String, contents: Data) {
            self.name = name
            self.contents = contents
        }
    }

    public var spec: Data
    public var salt: Data
    public var files: [File]

    public init(spec: Data, salt: Data, files: [File]) {
        self.spec = spec
        self.salt = salt
        self.files = files
    }

    /// A secret with a fresh 32-byte random salt.
    public static func fresh(spec: Data, files: [File]) throws -> SealedSecret {
        SealedSecret(spec: spec, salt: try secureRandomBytes(32), files: files)
    }

    /// SHA-256(canonical spec ‖ salt), hex: binds the owner to this spec without revealing it.
    public var commitment: String { Self.commitment(spec: spec, salt: salt) }

    public static func commitment(spec: Data, salt: Data) -> String { sha256Hex(spec + salt) }
}

/// A sealed record as stored and signed: public facts in the clear, the secret encrypted under
/// a random data key, and that key wrapped under the owner's passphrase or key file.
public struct SealedRecord: Codable, Equatable, Sendable {
    public static let format = "tracemark.sealed-record/v1"
    public static let payloadType = "application/vnd.tracemark.sealed-record+json"

    public var format = SealedRecord.format
    public var id: String
    public var created: String
    public var ownerKeyId: String
    public var modelDigest: String
    public var commitment: String
    /// The secret (canonical JSON of `SealedSecret`) under AES-256-GCM with the data key.
    public var contents: AESGCM.Box
    public var keyWrap: KeyWrap

    /// Authenticated with both the contents and the wrapped key, so neither can be moved to
    /// another record or another owner.
    static func associatedData(id: String, ownerKeyID: String) -> Data {
        Data("\(format)\u{0}\(id)\u{0}\(ownerKeyID)".utf8)
    }
}

/// The data key, encrypted under a key-encryption key derived from a passphrase (scrypt) or
/// taken from a key file.
public struct KeyWrap: Codable, Equatable, Sendable {
    public enum Method: String, Codable, Sendable { case scrypt, keyFile = "key-file" }
    public var method: Method
    public var scrypt: ScryptParameters?
    /// SHA-256 of the key-encryption key from a key file, so a wrong file is named as such.
    public var keyFileId: String?
    public var box: AESGCM.Box
}

/// How the owner unlocks sealed records.
public enum Unlocking: Sendable {
    case passphrase(String)
    /// The bytes of a key file (at least 32 random bytes, e.g. `openssl rand 32 > vault.key`).
    case keyFile(Data)

    func wrap(_ dataKey: Data, associatedData: Data) throws -> KeyWrap {
        switch self {
        case .passphrase(let passphrase):
            let parameters = try ScryptParameters.fresh()
            let box = try AESGCM.seal(dataKey, key: try parameters.deriveKey(from: passphrase), associatedData: associatedData)
            return KeyWrap(method: .scrypt, scrypt: parameters, keyFileId: nil, box: box)
        case .keyFile(let contents):
            let key = try Self.keyEncryptionKey(fromFile: contents)
            return KeyWrap(method: .keyFile, scrypt: nil, keyFileId: sha256Hex(key),
                           box: try AESGCM.seal(dataKey, key: key, associatedData: associatedData))
        }
    }

    func unwrap(_ wrap: KeyWrap, associatedData: Data) throws -> Data {
        let key: Data
        switch (self, wrap.method) {
        case (.passphrase(let passphrase), .scrypt):
            guard let parameters = wrap.scrypt else { throw VaultError.damaged("a passphrase-wrapped key has no scrypt parameters") }
            key = try parameters.deriveKey(from: passphrase)
        case (.keyFile(let contents), .keyFile):
            key = try Self.keyEncryptionKey(fromFile: contents)
            guard sha256Hex(key) == wrap.keyFileId else { throw VaultError.wrongPassphrase("this record was sealed with another key file") }
        case (.passphrase, .keyFile): throw VaultError.wrongPassphrase("this record was sealed with a key file, not a passphrase")
        case (.keyFile, .scrypt): throw VaultError.wrongPassphrase("this record was sealed with a passphrase, not a key file")
        }
        guard let dataKey = AESGCM.open(wrap.box, key: key, associatedData: associatedData), dataKey.count == AESGCM.keySize else {
            throw VaultError.wrongPassphrase("the data key did not unwrap")
        }
        return dataKey
    }

    /// SHA-256 of the file, so any length of random bytes (or their hex) serves.
    static func keyEncryptionKey(fromFile contents: Data) throws -> Data {
        guard contents.count >= 32 else { throw VaultError.invalidInput("a vault key file needs at least 32 bytes (e.g. openssl rand 32 > vault.key)") }
        return sha256(contents)
    }
}
