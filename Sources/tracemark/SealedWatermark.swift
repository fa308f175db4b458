import Foundation
import Vault
import Watermark

/// A registered watermark opened from the owner's vault: the log entry, its signed bytes, the
/// unsealed secret and the spec with its autoencoder weights attached.
struct SealedWatermark {
    let vault: Vault
    let entry: RegistrationEntry
    let signedEntry: SignedBlob
    let secret: SealedSecret
    let spec: WatermarkSpec

    /// `reference` is a log index or a record id prefix; `keyFile` unlocks instead of the passphrase.
    init(vault folder: String, watermark reference: String, keyFile: String?) throws {
        vault = try Vault.open(directory: URL(fileURLWithPath: folder))
        entry = try findEntry(reference, in: vault)
        signedEntry = try vault.store.entries()[entry.index]
        secret = try vault.unseal(id: entry.recordId, unlocking: try Passphrase.unlocking(keyFile: keyFile))
        var spec = try WatermarkSpec.decode(secret.spec, path: "vault record \(entry.recordId)")
        try spec.attachAutoencoders(from: "in vault record \(entry.recordId)") { [secret] name in secret.files.first { $0.name == name }?.contents }
        self.spec = spec
    }

    /// The owner's private key at `path` (passphrase as for the vault), refused before any work
    /// when it is not this vault's owner key.
    func ownerKey(at path: String) throws -> SigningKey {
        guard let pem = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read private key \(path)") }
        let key = try SigningKey(pem: pem, passphrase: try Passphrase.read(prompt: "Passphrase: "))
        guard key.publicKey.keyID == vault.owner.keyID else {
            throw CommandFailure("--key \(path) is not this vault's owner key (\(vault.owner.keyID.prefix(16))…)")
        }
        return key
    }
}
