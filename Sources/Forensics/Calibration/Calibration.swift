import Engine
import Foundation
import Probe
import Watermark

/// The null of one watermark spec, measured: how often independently trained clean models
/// ("references") answer the target on this spec's trigger samples, and — the paper's
/// appendix B check — how often clean models and the watermarked model answer the target on
/// false watermarks (other source pairs; the right pair combined other ways). Stored signed in
/// the vault beside the spec; a report names its digest.
public struct Calibration: Codable, Equatable, Sendable {
    public static let format = "tracemark.calibration/v1"
    public static let payloadType = "application/vnd.tracemark.calibration+json"

    public struct Reference: Codable, Equatable, Sendable {
        public let architecture: String
        public let seed: UInt64
        public let trainImages: Int
        public let epochs: Int
        public let testAccuracy: Double
        public let triggerHits: Int
        public let triggers: Int
        /// The Clopper–Pearson upper bound of this reference's hit rate.
        public let upperBound: Double
        public let seconds: Double
        /// Fingerprint inputs this reference answers with the fingerprint's label, of how many;
        /// nil when the calibration had no fingerprint.
        public let fingerprintHits: Int?
        public let fingerprintInputs: Int?

        /// The calibration checks `upperBound` against the counts at its confidence.
        public init(architecture: String, seed: UInt64, trainImages: Int, epochs: Int, testAccuracy: Double,
                    triggerHits: Int, triggers: Int, upperBound: Double, seconds: Double,
                    fingerprintHits: Int? = nil, fingerprintInputs: Int? = nil) throws {
            try requireZooArchitecture(architecture)
            guard trainImages >= 0, epochs >= 0 else { throw ForensicsError.invalid("train_images and epochs must be 0 or more") }
            guard isProbability(testAccuracy) else { throw ForensicsError.invalid("test_accuracy must be a rate in [0, 1], got \(testAccuracy)") }
            guard Calibration.triggerCounts.contains(triggers) else {
                throw ForensicsError.invalid("triggers must be \(Calibration.triggerCounts.lowerBound)–\(Calibration.triggerCounts.upperBound), got \(triggers)")
            }
            guard (0...triggers).contains(triggerHits) else { throw ForensicsError.invalid("trigger_hits must be 0–\(triggers) (the triggers), got \(triggerHits)") }
            guard seconds.isFinite, seconds >= 0 else { throw ForensicsError.invalid("seconds must be a finite time of 0 or more, got \(seconds)") }
            guard isProbability(upperBound) else { throw ForensicsError.invalid("upper_bound must be a rate in [0, 1], got \(upperBound)") }
            guard (fingerprintHits == nil) == (fingerprintInputs == nil),
                  fingerprintInputs.map(Fingerprint.counts.contains) ?? true, (0...(fingerprintInputs ?? 0)).contains(fingerprintHits ?? 0) else {
                throw ForensicsError.invalid("fingerprint_hits and fingerprint_inputs go together: \(Fingerprint.counts.lowerBound)–\(Fingerprint.counts.upperBound) inputs, 0 to that many hits")
            }
            self.architecture = architecture
            self.seed = seed
            self.trainImages = trainImages
            self.epochs = epochs
            self.testAccuracy = testAccuracy
            self.triggerHits = triggerHits
            self.triggers = triggers
            self.upperBound = upperBound
            self.seconds = seconds
            self.fingerprintHits = fingerprintHits
            self.fingerprintInputs = fingerprintInputs
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let architecture = try c.decode(String.self, forKey: .architecture), seed = try c.decode(UInt64.self, forKey: .seed)
            let trainImages = try c.decode(Int.self, forKey: .trainImages), epochs = try c.decode(Int.self, forKey: .epochs)
            let testAccuracy = try c.decode(Double.self, forKey: .testAccuracy), triggerHits = try c.decode(Int.self, forKey: .triggerHits)
            let triggers = try c.decode(Int.self, forKey: .triggers), upperBound = try c.decode(Double.self, forKey: .upperBound)
            let seconds = try c.decode(Double.self, forKey: .seconds)
            let fingerprintHits = try c.decodeIfPresent(Int.self, forKey: .fingerprintHits)
            let fingerprintInputs = try c.decodeIfPresent(Int.self, forKey: .fingerprintInputs)
            self = try decoder.validated {
                try Reference(architecture: architecture, seed: seed, trainImages: trainImages, epochs: epochs, testAccuracy: testAccuracy,
                              triggerHits: triggerHits, triggers: triggers, upperBound: upperBound, seconds: seconds,
                              fingerprintHits: fingerprintHits, fingerprintInputs: fingerprintInputs)
            }
        }
    }

    public struct FalseWatermark: Codable, Equatable, Sendable {
        /// "sources 3+5, the spec's way" or "sources 0+1, pixel-merge 0.5".
        public let name: String
        public let samples: Int
        /// Hit rate (answers of the target) on each reference, in reference order.
        public let referenceRates: [Double]
        /// On the watermarked model, when calibration was given it.
        public let watermarkedRate: Double?

        /// The calibration checks that there is one reference rate per reference.
        public init(name: String, samples: Int, referenceRates: [Double], watermarkedRate: Double?) throws {
            guard isPlainName(name) else { throw ForensicsError.invalid("a false watermark's name must be 1–200 characters without control characters") }
            guard Calibration.triggerCounts.contains(samples) else {
                throw ForensicsError.invalid("samples must be \(Calibration.triggerCounts.lowerBound)–\(Calibration.triggerCounts.upperBound), got \(samples)")
            }
            guard referenceRates.allSatisfy(isProbability) else { throw ForensicsError.invalid("reference_rates must be rates in [0, 1]") }
            guard watermarkedRate.map(isProbability) ?? true else { throw ForensicsError.invalid("watermarked_rate must be a rate in [0, 1]") }
            self.name = name
            self.samples = samples
            self.referenceRates = referenceRates
            self.watermarkedRate = watermarkedRate
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let name = try c.decode(String.self, forKey: .name), samples = try c.decode(Int.self, forKey: .samples)
            let referenceRates = try c.decode([Double].self, forKey: .referenceRates)
            let watermarkedRate = try c.decodeIfPresent(Double.self, forKey: .watermarkedRate)
            self = try decoder.validated { try FalseWatermark(name: name, samples: samples, referenceRates: referenceRates, watermarkedRate: watermarkedRate) }
        }
    }

    /// The watermarked model's target rate on one other source pair combined the spec's way.
    public struct OtherPair: Codable, Equatable, Sendable {
        public let sources: [Int]
        public let samples: Int
        public let watermarkedRate: Double

        /// The service checks the pair against its spec's classes, target and secret pair.
        public init(sources: [Int], samples: Int, watermarkedRate: Double) throws {
            guard sources.count == 2, sources[0] != sources[1], sources.allSatisfy({ (0..<ModelCard.classCounts.upperBound).contains($0) }) else {
                throw ForensicsError.invalid("sources must be two different class labels, got \(sources.prefix(8))")
            }
            guard Calibration.triggerCounts.contains(samples) else {
                throw ForensicsError.invalid("samples must be \(Calibration.triggerCounts.lowerBound)–\(Calibration.triggerCounts.upperBound), got \(samples)")
            }
            guard isProbability(watermarkedRate) else { throw ForensicsError.invalid("watermarked_rate must be a rate in [0, 1], got \(watermarkedRate)") }
            self.sources = sources
            self.samples = samples
            self.watermarkedRate = watermarkedRate
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let sources = try c.decode([Int].self, forKey: .sources), samples = try c.decode(Int.self, forKey: .samples)
            let watermarkedRate = try c.decode(Double.self, forKey: .watermarkedRate)
            self = try decoder.validated { try OtherPair(sources: sources, samples: samples, watermarkedRate: watermarkedRate) }
        }
    }

    /// Decoys come only from other pairs the watermarked model answers the target on at most
    /// this often. A pair it answers the target on carries the watermark's own features: a copy
    /// inherits that, so such decoys would count the copy's inheritance as a bias against it.
    public static let decoyCeiling = 0.10

    /// Trigger and sample counts: as many as a spec's trigger set may hold.
    public static let triggerCounts = WatermarkSpec.triggerSetSizes
    /// Fifty times the default 20 references; each costs a Clopper–Pearson bound to check.
    public static let referenceCounts = 1...1000
    /// Far more false watermarks than a calibration makes (other pairs and evasion ways).
    public static let largestFalseWatermarkCount = 1000

    public private(set) var format = Calibration.format
    /// SHA-256 of the canonical spec this calibrates.
    public let specSha256: String
    public let created: String
    public let confidence: Double
    public let references: [Reference]
    /// The null rate decisions test against, recomputed from the references' counts.
    public let p0: Double
    public let falseWatermarks: [FalseWatermark]
    /// The watermarked model's own WSR on the trigger samples, when given. (Not `…WSR`: the
    /// snake-case key `watermarked_wsr` would not decode back into it.)
    public let watermarkedWsr: Double?
    /// Every other source pair on the watermarked model, when given (MEA-Defender specs).
    public let otherPairs: [OtherPair]?
    /// The pairs a probe draws its decoys from (at most `decoyCeiling` on the watermarked
    /// model); nil when none qualifies or the model was not given, and the probe then uses
    /// every other pair and the other combining ways.
    public let decoyPairs: [[Int]]?
    /// SHA-256 of the fingerprint file the references were measured on, when the registration
    /// has one; every reference then has its fingerprint counts.
    public let fingerprintSha256: String?
    /// The fingerprint channel's null, recomputed from the references' fingerprint counts as p0 is.
    public let fingerprintP0: Double?

    /// A calibration is believed for its measurements only: p0 and the decoy pairs are
    /// derived here from them, and each reference's upper bound must be the Clopper–Pearson
    /// bound of its counts at `confidence` (the tolerance covers the last bits of a bound
    /// computed with another platform's logarithm).
    public init(specSha256: String, created: String, confidence: Double, references: [Reference], falseWatermarks: [FalseWatermark],
                watermarkedWsr: Double?, otherPairs: [OtherPair]? = nil, fingerprintSha256: String? = nil,
                format: String = Calibration.format) throws {
        guard format == Self.format else { throw ForensicsError.invalid("format is '\(format.prefix(80))', not \(Self.format)") }
        guard isSHA256Hex(specSha256) else { throw ForensicsError.invalid("spec_sha256 must be a SHA-256 in lowercase hex (64 digits)") }
        guard created.count <= 64, Self.isTimestamp(created) else {
            throw ForensicsError.invalid("created must be an ISO 8601 time such as 2026-11-28T19:00:00Z")
        }
        guard confidence > 0 && confidence < 1 else { throw ForensicsError.invalid("confidence must lie strictly between 0 and 1, got \(confidence)") }
        guard Self.referenceCounts.contains(references.count) else {
            throw ForensicsError.invalid("references must list \(Self.referenceCounts.lowerBound)–\(Self.referenceCounts.upperBound) reference models, got \(references.count)")
        }
        for (index, reference) in references.enumerated() {
            let bound = ClopperPearson(successes: reference.triggerHits, trials: reference.triggers, confidence: confidence).upper
            guard abs(reference.upperBound - bound) <= 1e-9 else {
                throw ForensicsError.invalid("references[\(index)].upper_bound \(reference.upperBound) is not the Clopper–Pearson bound of \(reference.triggerHits) hits in \(reference.triggers) triggers at confidence \(confidence) (\(bound))")
            }
        }
        guard falseWatermarks.count <= Self.largestFalseWatermarkCount else {
            throw ForensicsError.invalid("false_watermarks lists at most \(Self.largestFalseWatermarkCount), got \(falseWatermarks.count)")
        }
        if let index = falseWatermarks.firstIndex(where: { $0.referenceRates.count != references.count }) {
            throw ForensicsError.invalid("false_watermarks[\(index)].reference_rates must hold one rate per reference (\(references.count))")
        }
        guard watermarkedWsr.map(isProbability) ?? true else { throw ForensicsError.invalid("watermarked_wsr must be a rate in [0, 1]") }
        // Every pair of the largest class count a spec may have.
        let largestPairCount = ModelCard.classCounts.upperBound * (ModelCard.classCounts.upperBound - 1) / 2
        guard (otherPairs?.count ?? 0) <= largestPairCount else { throw ForensicsError.invalid("other_pairs lists at most \(largestPairCount) pairs") }
        guard fingerprintSha256.map(isSHA256Hex) ?? true,
              references.allSatisfy({ ($0.fingerprintHits != nil) == (fingerprintSha256 != nil) }) else {
            throw ForensicsError.invalid("fingerprint_sha256 (64 lowercase hex digits) and every reference's fingerprint counts go together")
        }
        self.format = format
        self.specSha256 = specSha256
        self.created = created
        self.confidence = confidence
        self.references = references
        self.falseWatermarks = falseWatermarks
        self.watermarkedWsr = watermarkedWsr
        self.otherPairs = otherPairs
        let quiet = otherPairs?.filter { $0.watermarkedRate <= Self.decoyCeiling }.map(\.sources) ?? []
        decoyPairs = quiet.isEmpty ? nil : quiet
        p0 = Self.nullRate(hits: references.map(\.triggerHits), triggers: references.map(\.triggers), confidence: confidence)
        self.fingerprintSha256 = fingerprintSha256
        fingerprintP0 = fingerprintSha256 == nil ? nil
            : Self.nullRate(hits: references.compactMap(\.fingerprintHits), triggers: references.compactMap(\.fingerprintInputs), confidence: confidence)
    }

    /// The largest Clopper–Pearson upper bound of the references' hit rates: the one p0, computed
    /// from counts wherever a calibration or a report is read (a stored bound is never believed).
    public static func nullRate(hits: [Int], triggers: [Int], confidence: Double) -> Double {
        zip(hits, triggers).map { ClopperPearson(successes: $0, trials: $1, confidence: confidence).upper }.max() ?? 1
    }

    /// Decodes the measurements and derives the rest; stored p0s and decoy pairs are ignored.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let format = try c.decode(String.self, forKey: .format), specSha256 = try c.decode(String.self, forKey: .specSha256)
        let created = try c.decode(String.self, forKey: .created), confidence = try c.decode(Double.self, forKey: .confidence)
        let references = try c.decode([Reference].self, forKey: .references)
        let falseWatermarks = try c.decode([FalseWatermark].self, forKey: .falseWatermarks)
        let watermarkedWsr = try c.decodeIfPresent(Double.self, forKey: .watermarkedWsr)
        let otherPairs = try c.decodeIfPresent([OtherPair].self, forKey: .otherPairs)
        let fingerprintSha256 = try c.decodeIfPresent(String.self, forKey: .fingerprintSha256)
        self = try decoder.validated {
            try Calibration(specSha256: specSha256, created: created, confidence: confidence, references: references,
                            falseWatermarks: falseWatermarks, watermarkedWsr: watermarkedWsr, otherPairs: otherPairs,
                            fingerprintSha256: fingerprintSha256, format: format)
        }
    }

    /// Whether `text` is a time as `Vault.timestamp` writes it (a formatter per call: they are
    /// not shared across threads).
    private static func isTimestamp(_ text: String) -> Bool {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text) != nil
    }

    public func encoded() throws -> Data { try CanonicalJSON.encode(self) }

    public static func decode(_ data: Data) throws -> Calibration {
        do {
            return try CanonicalJSON.decode(Calibration.self, from: data)
        } catch {
            throw ForensicsError.invalid("invalid calibration: \(describeDecodingError(error))")
        }
    }

    /// The decoy pairs for a probe, named by this calibration's SHA-256.
    public func decoys(sha256: String) -> DecoyPairs? {
        decoyPairs.map { DecoyPairs(pairs: $0, calibrationSha256: sha256) }
    }
}

/// A finite rate in [0, 1].
private func isProbability(_ value: Double) -> Bool { (0...1).contains(value) }

/// A reference model's architecture, read from a file: one of the zoo's.
func requireZooArchitecture(_ architecture: String) throws {
    guard ModelZoo.architectures.contains(architecture) else {
        throw ForensicsError.invalid("architecture '\(architecture.prefix(80))' is not one of \(ModelZoo.architectures.joined(separator: ", "))")
    }
}

/// A name shown in reports: 1–`limit` characters, none of them control characters.
func isPlainName(_ text: String, limit: Int = 200) -> Bool {
    (1...limit).contains(text.count) && !text.unicodeScalars.contains(where: \.isControlCharacter)
}
