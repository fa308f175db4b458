import Engine
import Foundation
import Probe

/// The null of one watermark spec, measured: how often independently trained clean models
/// ("references") answer the target on this spec's trigger samples, and — the paper's
/// appendix B check — how often clean models and the watermarked model answer the target on
/// false watermarks (other source pairs; the right pair combined other ways). Stored signed in
/// the vault beside the spec; a report names its digest.
public struct Calibration: Codable, Equatable, Sendable {
    public static let format = "tracemark.calibration/v1"
    public static let payloadType = "application/vnd.tracemark.calibration+json"

    public struct Reference: Codable, Equatable, Sendable {
        public var architecture: String
        public var seed: UInt64
        public var trainImages: Int
        public var epochs: Int
        public var testAccuracy: Double
        public var triggerHits: Int
        public var triggers: Int
        /// The Clopper–Pearson upper bound of this reference's hit rate.
        public var upperBound: Double
        public var seconds: Double
    }

    public struct FalseWatermark: Codable, Equatable, Sendable {
        /// "sources 3+5, the spec's way" or "sources 0+1, pixel-merge 0.5".
        public var name: String
        public var samples: Int
        /// Hit rate (answers of the target) on each reference, in reference order.
        public var referenceRates: [Double]
        /// On the watermarked model, when calibration was given it.
        public var watermarkedRate: Double?
    }

    /// The watermarked model's target rate on one other source pair combined the spec's way.
    public struct OtherPair: Codable, Equatable, Sendable {
        public var sources: [Int]
        public var samples: Int
        public var watermarkedRate: Double

        public init(sources: [Int], samples: Int, watermarkedRate: Double) {
            self.sources = sources
            self.samples = samples
            self.watermarkedRate = watermarkedRate
        }
    }

    /// Decoys come only from other pairs the watermarked model answers the target on at most
    /// this often. A pair it answers the target on carries the watermark's own features: a copy
    /// inherits that, so such decoys would count the copy's inheritance as a bias against it.
    public static let decoyCeiling = 0.10

    public var format = Calibration.format
    /// SHA-256 of the canonical spec this calibrates.
    public var specSha256: String
    public var created: String
    public var confidence: Double
    public var references: [Reference]
    /// The largest reference upper bound: the null rate decisions start from.
    public var p0: Double
    /// θ under the default decision rule, for reading; a report derives its own from its rule.
    public var theta: Double
    public var falseWatermarks: [FalseWatermark]
    /// The watermarked model's own WSR on the trigger samples, when given. (Not `…WSR`: the
    /// snake-case key `watermarked_wsr` would not decode back into it.)
    public var watermarkedWsr: Double?
    /// Every other source pair on the watermarked model, when given (MEA-Defender specs).
    public var otherPairs: [OtherPair]?
    /// The pairs a probe draws its decoys from (at most `decoyCeiling` on the watermarked
    /// model); nil when none qualifies or the model was not given, and the probe then uses
    /// every other pair and the other combining ways.
    public var decoyPairs: [[Int]]?

    public init(specSha256: String, created: String, confidence: Double, references: [Reference], falseWatermarks: [FalseWatermark],
                watermarkedWsr: Double?, otherPairs: [OtherPair]? = nil) {
        self.specSha256 = specSha256
        self.created = created
        self.confidence = confidence
        self.references = references
        self.falseWatermarks = falseWatermarks
        self.watermarkedWsr = watermarkedWsr
        self.otherPairs = otherPairs
        let quiet = otherPairs?.filter { $0.watermarkedRate <= Self.decoyCeiling }.map(\.sources) ?? []
        decoyPairs = quiet.isEmpty ? nil : quiet
        p0 = references.map(\.upperBound).max() ?? 1
        theta = DecisionRule().theta(p0: p0)
    }

    public func encoded() throws -> Data { try CanonicalJSON.encode(self) }

    public static func decode(_ data: Data) throws -> Calibration {
        let calibration = try CanonicalJSON.decode(Calibration.self, from: data)
        guard calibration.format == format else { throw ForensicsError.invalid("not a \(format) document") }
        return calibration.rederived
    }

    /// p0, θ and the decoy pairs recomputed from the measurements: a document that claims
    /// others is not believed for them.
    public var rederived: Calibration {
        Calibration(specSha256: specSha256, created: created, confidence: confidence, references: references, falseWatermarks: falseWatermarks,
                    watermarkedWsr: watermarkedWsr, otherPairs: otherPairs)
    }

    /// The decoy pairs for a probe, named by this calibration's SHA-256.
    public func decoys(sha256: String) -> DecoyPairs? {
        decoyPairs.map { DecoyPairs(pairs: $0, calibrationSha256: sha256) }
    }
}
