import Data
import Engine
import Foundation
import Probe
import Vault
import Watermark

/// A registered watermark opened from a vault: the log entry, its signed bytes, the unsealed
/// secret, the spec with its autoencoder weights attached, and the fingerprint the spec names.
public struct SealedWatermark {
    public let vault: Vault
    public let entry: RegistrationEntry
    public let signedEntry: SignedBlob
    public let secret: SealedSecret
    public let spec: WatermarkSpec
    /// The fingerprint sealed with the spec and its file's SHA-256 (the spec's `fingerprintSha256`).
    public let fingerprint: (fingerprint: Fingerprint, sha256: String)?

    public init(vault: Vault, entry: RegistrationEntry, unlocking: Unlocking) throws {
        self.vault = vault
        self.entry = entry
        signedEntry = try vault.store.entries()[entry.index]
        secret = try vault.unseal(id: entry.recordId, unlocking: unlocking)
        var spec = try WatermarkSpec.decode(secret.spec, path: "vault record \(entry.recordId)")
        try spec.attachAutoencoders(from: "in vault record \(entry.recordId)") { [secret] name in secret.files.first { $0.name == name }?.contents }
        self.spec = spec
        if let digest = spec.fingerprintSha256 {
            guard let file = secret.files.first(where: { $0.name == Fingerprint.fileName })?.contents, sha256Hex(file) == digest else {
                throw ForensicsError.invalid("vault record \(entry.recordId): the spec names fingerprint \(digest.prefix(12))…, and the record holds no such \(Fingerprint.fileName)")
            }
            fingerprint = (try Fingerprint(decoding: file, path: "\(Fingerprint.fileName) in vault record \(entry.recordId)"), digest)
        } else {
            fingerprint = nil
        }
    }

    /// What a report names of the registration.
    public var registration: EvidencePredicate.Registration {
        .init(recordId: entry.recordId, commitment: entry.commitment, index: entry.index, time: entry.time,
              entrySha256: RegistrationEntry.hash(of: signedEntry), modelDigest: entry.modelDigest)
    }

    /// The secret to seal for `spec`: the spec, the trigger set made from it (so the vault
    /// holds the exact verification samples), any autoencoder weights it needs and, with
    /// `fingerprint` (a fingerprint file's bytes), the fingerprint — the spec then names the
    /// file's SHA-256, so the registration's commitment covers it.
    public static func secret(sealing spec: WatermarkSpec, fingerprint: Data? = nil) throws -> SealedSecret {
        var spec = spec
        if let fingerprint {
            let decoded = try Fingerprint(decoding: fingerprint)
            try decoded.check(against: spec)
            spec.fingerprintSha256 = sha256Hex(fingerprint)
        }
        let verificationSet = try DatasetCatalog.load(spec.dataset, split: spec.verificationSplit)
        let triggers = try WatermarkEvaluation.triggerSamples(for: spec, from: verificationSet)
        let files = [SealedSecret.File(name: "trigger-set.safetensors", contents: triggers.encoded())]
            + spec.autoencoderFiles.map { SealedSecret.File(name: $0.name, contents: $0.contents) }
            + (fingerprint.map { [SealedSecret.File(name: Fingerprint.fileName, contents: $0)] } ?? [])
        return try SealedSecret.fresh(spec: spec.canonicalJSON(), files: files)
    }

    /// The fingerprint channel's queries for a probe, when the registration has a fingerprint.
    public var fingerprintQueries: FingerprintQueries? {
        fingerprint.map { $0.fingerprint.queries(sha256: $0.sha256) }
    }

    /// The calibration stored beside the registration, nil when there is none yet.
    public func calibration() throws -> (calibration: Calibration, sha256: String)? {
        guard let bytes = try vault.attachment(type: Calibration.payloadType, of: entry.recordId) else { return nil }
        return (try Calibration.decode(bytes), sha256Hex(bytes))
    }
}
