import ArgumentParser
import Engine
import Forensics
import Foundation
import Vault
import Watermark

struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal a watermark spec in the owner's vault and append a signed registration entry.",
        discussion: """
        The spec, the trigger set made from it (the verification samples) and any autoencoder \
        weights are encrypted with AES-256-GCM under a fresh data key, which is wrapped under a \
        key derived from the passphrase (scrypt) or under --key-file. The log entry commits to the \
        spec — SHA-256(canonical spec ‖ 32-byte random salt) — names the model's SHA-256, the \
        owner's key id and the previous entry's hash, and is signed with --key. Record and entry \
        land in one transaction. With --fingerprint (from `tracemark fingerprint make` on the same \
        model) the fingerprint is sealed too and the spec names its SHA-256, so the commitment \
        covers the second evidence channel. A new vault is created for --key's owner. The passphrase comes \
        from TRACEMARK_PASSPHRASE or the terminal and unlocks both the key and the vault. \
        Tracemark deletes nothing unless asked: the plaintext spec stays where it is unless \
        --remove-plaintext is given.
        """
    )

    @Option(help: "The vault folder (created for --key's owner if absent).")
    var vault: String

    @Option(help: "The watermark spec to seal (JSON from `tracemark embed`).")
    var spec: String

    @Option(help: "The protected checkpoint (.safetensors); its SHA-256 goes into the log.")
    var model: String

    @Option(help: "The owner's private key (PEM).")
    var key: String

    @Option(help: "A fingerprint of --model (`tracemark fingerprint make`) to seal beside the watermark.")
    var fingerprint: String?

    @Option(help: "Wrap the data key under this key file (≥ 32 random bytes) instead of the passphrase.")
    var keyFile: String?

    @Flag(help: "After sealing, delete the plaintext spec and the autoencoder weights beside it.")
    var removePlaintext = false

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    func run() throws {
        let watermark = try WatermarkSpec.load(spec)
        guard let modelBytes = FileManager.default.contents(atPath: model) else { throw CommandFailure("cannot read model \(model)") }
        let modelDigest = sha256Hex(modelBytes)
        if let named = watermark.modelDigest, named != modelDigest {
            throw CommandFailure("\(spec) was made for the model with SHA-256 \(named), but \(model) has \(modelDigest)")
        }
        let fingerprintFile = try fingerprint.map { path in
            guard let bytes = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read fingerprint \(path)") }
            let made = try Fingerprint(decoding: bytes, path: path).provenance.protectedModelSha256
            guard made == modelDigest else { throw CommandFailure("\(path) was made from the model with SHA-256 \(made), but \(model) has \(modelDigest)") }
            return bytes
        }
        guard let keyPEM = FileManager.default.contents(atPath: key) else { throw CommandFailure("cannot read private key \(key)") }
        let passphrase = try Passphrase.read(prompt: "Passphrase: ")
        let signer = try SigningKey(pem: keyPEM, passphrase: passphrase)
        let unlocking: Unlocking = try keyFile == nil ? .passphrase(passphrase) : Passphrase.unlocking(keyFile: keyFile)

        printStatus("making the trigger set (\(watermark.triggerSetSize) samples from \(watermark.dataset) \(watermark.verificationSplit))")
        let secret = try SealedWatermark.secret(sealing: watermark, fingerprint: fingerprintFile)
        let autoencoders = watermark.autoencoderFiles

        let opened = try Vault.open(directory: URL(fileURLWithPath: vault), creatingFor: signer.publicKey)
        let (record, entry) = try opened.register(secret, modelDigest: modelDigest, signer: signer, unlocking: unlocking)

        let specFolder = URL(fileURLWithPath: spec).deletingLastPathComponent()
        let plaintext = [spec] + autoencoders.map { specFolder.appendingPathComponent($0.name).path }
        if removePlaintext {
            for path in plaintext { try FileManager.default.removeItem(atPath: path) }
        }
        let report = RegistrationReport(vault: vault, index: entry.index, recordId: record.id, commitment: entry.commitment,
                                        modelDigest: modelDigest, ownerKeyId: entry.ownerKeyId, time: entry.time,
                                        plaintextRemoved: removePlaintext, plaintextFiles: plaintext,
                                        fingerprintSha256: fingerprintFile.map(sha256Hex))
        if json { try printJSON(report) } else {
            print("registered entry \(entry.index) in \(vault): record \(record.id)")
            print("commitment \(entry.commitment)  model \(modelDigest)  owner key \(entry.ownerKeyId)")
            if let digest = report.fingerprintSha256 { print("sealed fingerprint \(fingerprint!) (SHA-256 \(digest)); the commitment covers it") }
            print(removePlaintext ? "removed the plaintext: \(plaintext.joined(separator: ", "))"
                                  : "the plaintext spec is still at \(plaintext.joined(separator: ", ")) — Tracemark deleted nothing; remove it when you no longer need it")
        }
    }
}

struct RegistrationReport: Encodable {
    var vault: String
    var index: Int
    var recordId: String
    var commitment: String
    var modelDigest: String
    var ownerKeyId: String
    var time: String
    var plaintextRemoved: Bool
    var plaintextFiles: [String]
    var fingerprintSha256: String?
}
