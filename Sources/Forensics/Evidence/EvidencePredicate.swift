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
    public var decision: Decision
    public var controlAccuracy: Double?
    /// Agreement with the protected model on answered controls, when the report was made with it.
    public var fidelity: Double?
    public var software: Software
}
