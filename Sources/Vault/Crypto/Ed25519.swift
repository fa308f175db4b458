import COpenSSL
import Engine
import Foundation

/// An Ed25519 public key: verifies signatures and names its owner by a key id, the SHA-256 of
/// its DER SubjectPublicKeyInfo (what `openssl pkey -pubin -outform DER | sha256sum` prints).
public final class PublicKey: @unchecked Sendable {
    let key: OpaquePointer

    init(owning key: OpaquePointer) { self.key = key }
    deinit { EVP_PKEY_free(key) }

    /// Reads a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    public convenience init(pem: Data) throws {
        let bio = try MemoryBIO(pem)
        guard let key = PEM_read_bio_PUBKEY(bio.bio, nil, nil, nil) else {
            throw VaultError.badKey("not a PEM public key (\(OpenSSLFailure("PEM_read_bio_PUBKEY")))")
        }
        guard EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(key)
            throw VaultError.badKey("the public key is not Ed25519")
        }
        self.init(owning: key)
    }

    public var der: Data {
        var output: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(key, &output)
        // Encoding a valid in-memory key only fails when out of memory.
        precondition(length > 0, "i2d_PUBKEY failed")
        defer { CRYPTO_free(output, #fileID, #line) }
        return Data(bytes: output!, count: Int(length))
    }

    public var pem: Data {
        let bio = MemoryBIO()
        precondition(PEM_write_bio_PUBKEY(bio.bio, key) == 1, "PEM_write_bio_PUBKEY failed")
        return bio.contents
    }

    public var keyID: String { sha256Hex(der) }

    public func verify(_ signature: Data, of message: Data) -> Bool {
        guard signature.count == 64, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        let valid = signature.withUnsafeBytes { signature in
            message.withUnsafeBytes { message in
                EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
                    && EVP_DigestVerify(context, signature.bindMemory(to: UInt8.self).baseAddress, signature.count,
                                        message.bindMemory(to: UInt8.self).baseAddress, message.count) == 1
            }
        }
        ERR_clear_error()
        return valid
    }
}

/// An Ed25519 private key. On disk it is PKCS#8 PEM encrypted with a passphrase: PBES2 with
/// scrypt and AES-256-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc -scrypt` writes it, which
/// `openssl pkey -passin` reads. Keys under PBKDF2 (written before) still load.
public final class SigningKey: @unchecked Sendable {
    let key: OpaquePointer

    private init(owning key: OpaquePointer) { self.key = key }
    deinit { EVP_PKEY_free(key) }

    public static func generate() throws -> SigningKey {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw OpenSSLFailure("EVP_PKEY_CTX_new_id") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer? = nil
        try check(EVP_PKEY_keygen_init(context), "Ed25519 keygen init")
        try check(EVP_PKEY_keygen(context, &key), "Ed25519 keygen")
        return SigningKey(owning: key!)
    }

    /// Reads a PKCS#8 PEM private key, encrypted (with `passphrase`) or not.
    public init(pem: Data, passphrase: String?) throws {
        let bio = try MemoryBIO(pem)
        let read: OpaquePointer? = if let passphrase {
            passphrase.withCString { PEM_read_bio_PrivateKey(bio.bio, nil, nil, UnsafeMutableRawPointer(mutating: $0)) }
        } else {
            PEM_read_bio_PrivateKey(bio.bio, nil, nil, nil)
        }
        guard let read else {
            let failure = OpenSSLFailure("PEM_read_bio_PrivateKey")
            let text = String(decoding: pem, as: UTF8.self)
            if text.contains("ENCRYPTED PRIVATE KEY") {
                throw VaultError.wrongPassphrase(passphrase == nil ? "the private key is encrypted and no passphrase was given"
                                                                   : "the passphrase does not decrypt the private key")
            }
            throw VaultError.badKey("not a PEM private key (\(failure))")
        }
        guard EVP_PKEY_get_id(read) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(read)
            throw VaultError.badKey("the private key is not Ed25519")
        }
        key = read
    }

    /// The scrypt cost of the key's encryption. OpenSSL decrypts PBES2-scrypt keys within a fixed
    /// 32 MiB, which the vault's N = 2^15, r = 8 just exceeds (`openssl pkey` would refuse the
    /// key); N = 2^14, r = 15, p = 2 takes 30 MiB and twice the vault's work.
    static let keyEncryptionScrypt = (n: UInt64(1) << 14, r: UInt64(15), p: UInt64(2))

    /// PKCS#8 PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`) under `passphrase`: PBES2 with scrypt
    /// (a fresh 16-byte salt) and AES-256-CBC (a fresh IV).
    public func encryptedPEM(passphrase: String) throws -> Data {
        let cost = Self.keyEncryptionScrypt
        guard let algorithm = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nil, 16, nil, cost.n, cost.r, cost.p) else {
            throw OpenSSLFailure("PKCS5_pbe2_set_scrypt")
        }
        guard let info = EVP_PKEY2PKCS8(key) else {
            X509_ALGOR_free(algorithm)
            throw OpenSSLFailure("EVP_PKEY2PKCS8")
        }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        // Takes the algorithm on success only. The length is strlen's, as the reading side's
        // default password callback takes it.
        let encrypted = passphrase.withCString { PKCS8_set0_pbe($0, Int32(strlen($0)), info, algorithm) }
        guard let encrypted else {
            X509_ALGOR_free(algorithm)
            throw OpenSSLFailure("PKCS8_set0_pbe")
        }
        defer { X509_SIG_free(encrypted) }
        let bio = MemoryBIO()
        try check(PEM_write_bio_PKCS8(bio.bio, encrypted), "PEM_write_bio_PKCS8")
        return bio.contents
    }

    public var publicKey: PublicKey {
        // Round-tripping through the DER public key gives an EVP_PKEY with no private half.
        var raw = [UInt8](repeating: 0, count: 32), length = 32
        precondition(EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, "EVP_PKEY_get_raw_public_key failed")
        return PublicKey(owning: EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, length)!)
    }

    /// Pure Ed25519 (no pre-hash) over `message`: 64 bytes.
    public func sign(_ message: Data) throws -> Data {
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLFailure("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64), length = 64
        try check(EVP_DigestSignInit(context, nil, nil, nil, key), "Ed25519 sign init")
        try message.withUnsafeBytes { message in
            try check(EVP_DigestSign(context, &signature, &length, message.bindMemory(to: UInt8.self).baseAddress, message.count),
                      "Ed25519 sign")
        }
        return Data(signature.prefix(length))
    }
}

/// An OpenSSL memory BIO, freed with its owner.
final class MemoryBIO {
    let bio: OpaquePointer

    init() { bio = BIO_new(BIO_s_mem())! }

    convenience init(_ data: Data) throws {
        self.init()
        let written = data.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        guard written == data.count else { throw OpenSSLFailure("BIO_write") }
    }

    deinit { BIO_free(bio) }

    var contents: Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let read = BIO_read(bio, &buffer, Int32(buffer.count)), read > 0 { data.append(contentsOf: buffer.prefix(Int(read))) }
        return data
    }
}
