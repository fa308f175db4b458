import Foundation

/// Tracemark's in-toto predicate (`https://tracemark.dev/evidence/v2`): which registered
/// watermark was tested, against which endpoint, with which transcript, and what the
/// statistics say. Every figure derived from the transcript is rechecked by `report verify`.
public struct EvidencePredicate: Codable, Equatable, Sendable {
    public static let predicateType = "https://tracemark.dev/evidence/v2"

    /// The registration the secret was committed in before the probe.
    public struct Registration: Codable, Equatable, Sendable {
        public var recordId: String
        public var commitment: String
        public var index: Int
        public var time: String
        /// The entry's hash as the log chains it: SHA-256(payload ‖ signature).
        public var entrySha256: String
        public var modelDigest: String

        public init(recordId: String, commitment: String, index: Int, time: String, entrySha256: String, modelDigest: String) {
            self.recordId = recordId
            self.commitment = commitment
            self.index = index
            self.time = time
            self.entrySha256 = entrySha256
            self.modelDigest = modelDigest
        }
    }

    /// Where the calibrated null came from.
    public struct NullSource: Codable, Equatable, Sendable {
        /// SHA-256 of the signed calibration document in the vault.
        public var calibrationSha256: String
        public var created: String
        public var confidence: Double
        public var referenceArchitectures: [String]
        public var referenceHits: [Int]
        public var referenceTriggers: [Int]
        /// `Calibration.nullRate` of the reference counts.
        public var calibratedP0: Double
    }

    /// The fingerprint channel: its null and its decision, and whether that decision counts.
    public struct FingerprintEvidence: Codable, Equatable, Sendable {
        /// Whether the channel decides the verdict with the watermark's (each at half of each α),
        /// or is only recorded beside it — the default: its nulls do not hold for independent
        /// models of the protected model's own recipe (README, Fingerprint).
        public var decides: Bool
        /// SHA-256 of the fingerprint file sealed with the spec; the transcript names the same.
        public var fingerprintSha256: String
        /// Each calibration reference's agreements with the fingerprint, of how many inputs.
        public var referenceHits: [Int]
        public var referenceInputs: [Int]
        /// `Calibration.nullRate` of those counts, at the null's confidence.
        public var calibratedP0: Double
        /// Nil when too few fingerprint queries were answered to reach any verdict (a recorded
        /// channel only: a deciding one with such counts is refused).
        public var decision: Decision?
    }

    public struct Software: Codable, Equatable, Sendable {
        public var name: String
        public var version: String

        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    public var ownerKeyId: String
    public var created: String
    public var registration: Registration
    public var null: NullSource
    public var transcript: TranscriptFigures
    /// The watermark channel's decision (at its share of the rule when there is a fingerprint channel).
    public var decision: Decision
    public var fingerprint: FingerprintEvidence?
    /// The verdict over every channel; absent in reports with the watermark channel alone, whose
    /// verdict is `decision`'s.
    public var verdict: Verdict?
    public var controlAccuracy: Double?
    /// Agreement with the protected model on answered controls, when the report was made with it.
    public var fidelity: Double?
    public var software: Software

    /// What the report concludes over all its channels.
    public var combinedVerdict: Verdict { verdict ?? decision.verdict }
}
