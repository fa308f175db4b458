import Data
import Engine
import Foundation
import Vault
import Watermark

/// A registered watermark opened from a vault: the log entry, its signed bytes, the unsealed
/// secret and the spec with its autoencoder weights attached.
public struct SealedWatermark {
    public let vault: Vault
    public let entry: RegistrationEntry
    public let signedEntry: SignedBlob
    public let secret: SealedSecret
    public let spec: WatermarkSpec

    public init(vault: Vault, entry: RegistrationEntry, unlocking: Unlocking) throws {
        self.vault = vault
        self.entry = entry
        signedEntry = try vault.store.entries()[entry.index]
        secret = try vault.unseal(id: entry.recordId, unlocking: unlocking)
        var spec = try WatermarkSpec.decode(secret.spec, path: "vault record \(entry.recordId)")
        try spec.attachAutoencoders(from: "in vault record \(entry.recordId)") { [secret] name in secret.files.first { $0.name == name }?.contents }
        self.spec = spec
    }

    /// What a report names of the registration.
    public var registration: EvidencePredicate.Registration {
        .init(recordId: entry.recordId, commitment: entry.commitment, index: entry.index, time: entry.time,
              entrySha256: RegistrationEntry.hash(of: signedEntry), modelDigest: entry.modelDigest)
    }

    /// The secret to seal for `spec`: the spec, the trigger set made from it (so the vault
    /// holds the exact verification samples) and any autoencoder weights it needs.
    public static func secret(sealing spec: WatermarkSpec) throws -> SealedSecret {
        let verificationSet = try DatasetCatalog.load(spec.dataset, split: spec.verificationSplit)
        let triggers = try WatermarkEvaluation.triggerSamples(for: spec, from: verificationSet)
        let files = [SealedSecret.File(name: "trigger-set.safetensors", contents: triggers.encoded())]
            + spec.autoencoderFiles.map { SealedSecret.File(name: $0.name, contents: $0.contents) }
        return try SealedSecret.fresh(spec: spec.canonicalJSON(), files: files)
    }

    /// The calibration stored beside the registration, nil when there is none yet.
    public func calibration() throws -> (calibration: Calibration, sha256: String)? {
        guard let bytes = try vault.attachment(type: Calibration.payloadType, of: entry.recordId) else { return nil }
        return (try Calibration.decode(bytes), sha256Hex(bytes))
    }
}
