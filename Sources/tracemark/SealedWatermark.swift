import Forensics
import Foundation
import Vault

extension SealedWatermark {
    /// `reference` is a log index or a record id prefix; `keyFile` unlocks instead of the passphrase.
    init(vault folder: String, watermark reference: String, keyFile: String?) throws {
        let vault = try Vault.open(directory: URL(fileURLWithPath: folder))
        try self.init(vault: vault, entry: try findEntry(reference, in: vault), unlocking: try Passphrase.unlocking(keyFile: keyFile))
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
