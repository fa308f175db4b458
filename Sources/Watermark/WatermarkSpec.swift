import Data
import Engine
import Foundation

/// Everything secret about one embedded watermark: which images trigger it, what they must be
/// labelled, and how to make fresh trigger samples for verification. Canonical JSON
/// (`tracemark.watermark/v1`: sorted keys, no insignificant whitespace), so that its SHA-256 is a
/// stable commitment.
public struct WatermarkSpec: Codable, Equatable, Sendable {
    public static let currentFormat = "tracemark.watermark/v1"

    public enum Method: String, Codable, Sendable, CaseIterable {
        /// MEA-Defender's symbiotic backdoor: two source classes combined, labelled as a third.
        case meaDefender = "mea-defender"
        /// A fixed patch on any image, labelled as the target (the baseline).
        case contentTrigger = "content-trigger"
    }

    public var format = WatermarkSpec.currentFormat
    public var method: Method
    public var dataset: String
    public var classNames: [String]
    /// s_i, s_j for mea-defender; empty for content-trigger.
    public var sourceLabels: [Int]
    public var targetLabel: Int
    public var watermark: Combiner?
    /// Combining ways whose mixes must keep a source label (they teach the model that only the
    /// secret way triggers).
    public var evasion: [Combiner]
    public var contentTrigger: ContentTrigger?
    public var seed: UInt64
    /// How many fresh trigger samples verification uses.
    public var triggerSetSize: Int
    /// The split whose images verification combines: never seen by training.
    public var verificationSplit: String
    /// SHA-256 of the protected checkpoint, once there is one.
    public var modelDigest: String?
    /// SHA-256 of the fingerprint file sealed with the spec (`tracemark register --fingerprint`):
    /// named here so the registration's commitment covers the second evidence channel too.
    public var fingerprintSha256: String?
    /// The filtered trigger samples verification uses (`tracemark filter-triggers`); nil: the
    /// first `triggerSetSize` drawn.
    public var triggerSelection: TriggerSelection?

    /// Up to 100,000 trigger samples: the binomial tails the decision rests on are accurate to a
    /// few ulps up to 10⁵ trials (see `Binomial`), and a set that size of CIFAR-10 mixes with
    /// their two sources already takes 3.7 GB.
    public static let triggerSetSizes = 1...100_000
    /// More than three times the evasion ways a drawn spec lists (at most ten).
    public static let largestEvasionCount = 32

    public init(method: Method, dataset: String, classNames: [String], sourceLabels: [Int], targetLabel: Int,
                watermark: Combiner?, evasion: [Combiner], contentTrigger: ContentTrigger?, seed: UInt64,
                triggerSetSize: Int, verificationSplit: String = "test", modelDigest: String? = nil,
                fingerprintSha256: String? = nil, triggerSelection: TriggerSelection? = nil,
                format: String = WatermarkSpec.currentFormat) throws {
        self.format = format
        self.method = method
        self.dataset = dataset
        self.classNames = classNames
        self.sourceLabels = sourceLabels
        self.targetLabel = targetLabel
        self.watermark = watermark
        self.evasion = evasion
        self.contentTrigger = contentTrigger
        self.seed = seed
        self.triggerSetSize = triggerSetSize
        self.verificationSplit = verificationSplit
        self.modelDigest = modelDigest
        self.fingerprintSha256 = fingerprintSha256
        self.triggerSelection = triggerSelection
        if let problem = problems.first { throw WatermarkError.invalid(problem) }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let format = try c.decode(String.self, forKey: .format), method = try c.decode(Method.self, forKey: .method)
        let dataset = try c.decode(String.self, forKey: .dataset), classNames = try c.decode([String].self, forKey: .classNames)
        let sourceLabels = try c.decode([Int].self, forKey: .sourceLabels), targetLabel = try c.decode(Int.self, forKey: .targetLabel)
        let watermark = try c.decodeIfPresent(Combiner.self, forKey: .watermark), evasion = try c.decode([Combiner].self, forKey: .evasion)
        let contentTrigger = try c.decodeIfPresent(ContentTrigger.self, forKey: .contentTrigger), seed = try c.decode(UInt64.self, forKey: .seed)
        let triggerSetSize = try c.decode(Int.self, forKey: .triggerSetSize), verificationSplit = try c.decode(String.self, forKey: .verificationSplit)
        let modelDigest = try c.decodeIfPresent(String.self, forKey: .modelDigest)
        let fingerprintSha256 = try c.decodeIfPresent(String.self, forKey: .fingerprintSha256)
        let triggerSelection = try c.decodeIfPresent(TriggerSelection.self, forKey: .triggerSelection)
        self = try decoder.validated {
            try WatermarkSpec(method: method, dataset: dataset, classNames: classNames, sourceLabels: sourceLabels, targetLabel: targetLabel,
                              watermark: watermark, evasion: evasion, contentTrigger: contentTrigger, seed: seed,
                              triggerSetSize: triggerSetSize, verificationSplit: verificationSplit, modelDigest: modelDigest,
                              fingerprintSha256: fingerprintSha256, triggerSelection: triggerSelection, format: format)
        }
    }

    /// Problems that make the spec unusable, in words; empty when it is sound. Its combiners and
    /// content trigger were checked when they were made; here they are checked against the
    /// method and the data set's items, so nothing a spec names can reach outside an image.
    public var problems: [String] {
        var found: [String] = []
        if format != Self.currentFormat { found.append("format is '\(format)', expected '\(Self.currentFormat)'") }
        if !DatasetCatalog.names.contains(dataset) {
            found.append("dataset '\(dataset.prefix(80))' is not one of \(DatasetCatalog.names.joined(separator: ", "))")
        } else if !DatasetCatalog.splits(of: dataset).contains(verificationSplit) {
            found.append("verification_split '\(verificationSplit.prefix(80))' is not a split of \(dataset) (\(DatasetCatalog.splits(of: dataset).joined(separator: ", ")))")
        }
        if let problem = ModelCard.classNamesProblem(classNames) { found.append(problem) }
        let classes = classNames.count
        for label in sourceLabels + [targetLabel] where label < 0 || label >= classes {
            found.append("label \(label) is outside 0..<\(classes)")
        }
        switch method {
        case .meaDefender:
            if sourceLabels.count != 2 { found.append("mea-defender needs exactly two source labels") }
            if Set(sourceLabels + [targetLabel]).count != 3 { found.append("source labels and target label must be three distinct classes") }
            if watermark == nil { found.append("mea-defender needs a watermark combiner") }
            if let watermark, evasion.contains(watermark) { found.append("the watermark combiner is also listed as an evasion combiner") }
            if contentTrigger != nil { found.append("mea-defender takes no content_trigger") }
        case .contentTrigger:
            if contentTrigger == nil { found.append("content-trigger needs a patch") }
            if !sourceLabels.isEmpty || watermark != nil || !evasion.isEmpty {
                found.append("content-trigger takes no source_labels, watermark or evasion")
            }
        }
        if evasion.count > Self.largestEvasionCount { found.append("evasion lists at most \(Self.largestEvasionCount) combiners, got \(evasion.count)") }
        if let contentTrigger, let shape = DatasetCatalog.itemShape(of: dataset), let geometry = try? ImageGeometry(shape: shape),
           !contentTrigger.fits(geometry) {
            found.append("content_trigger (\(contentTrigger.size)×\(contentTrigger.size) at x \(contentTrigger.x), y \(contentTrigger.y)) does not fit in the \(shape[1])×\(shape[2]) items of \(dataset)")
        }
        if !Self.triggerSetSizes.contains(triggerSetSize) {
            found.append("trigger_set_size must be \(Self.triggerSetSizes.lowerBound)–\(Self.triggerSetSizes.upperBound), got \(triggerSetSize)")
        }
        if let triggerSelection, triggerSelection.kept.count < triggerSetSize {
            found.append("trigger_set_size is \(triggerSetSize) but the trigger selection keeps \(triggerSelection.kept.count)")
        }
        if let modelDigest, !isSHA256Hex(modelDigest) { found.append("model_digest must be a SHA-256 in lowercase hex (64 digits)") }
        if let fingerprintSha256, !isSHA256Hex(fingerprintSha256) { found.append("fingerprint_sha256 must be a SHA-256 in lowercase hex (64 digits)") }
        return found
    }

    public func canonicalJSON() -> Data {
        // Every number in a spec is finite (ratios and fractions are checked on creation), and
        // only non-finite numbers make encoding fail.
        try! CanonicalJSON.encode(self)
    }

    /// Writes the spec, and beside it the weights of any autoencoder its combiners use.
    public func write(to path: String) throws {
        do {
            try canonicalJSON().write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw WatermarkError.unwritable(path: path, reason: error.localizedDescription)
        }
        try writeAutoencoders(to: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    public static func decode(_ data: Data, path: String) throws -> WatermarkSpec {
        do {
            return try CanonicalJSON.decode(WatermarkSpec.self, from: data)
        } catch {
            throw WatermarkError.invalidSpec(path: path, reason: describeDecodingError(error))
        }
    }

    /// Reads a spec and attaches the autoencoder weights it names from beside it.
    public static func load(_ path: String) throws -> WatermarkSpec {
        guard let data = FileManager.default.contents(atPath: path) else { throw WatermarkError.unreadable(path: path) }
        var spec = try decode(data, path: path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try spec.attachAutoencoders(from: "beside the spec in \(folder.path)") {
            FileManager.default.contents(atPath: folder.appendingPathComponent($0).path)
        }
        return spec
    }
}

public enum WatermarkError: Error, CustomStringConvertible {
    case unreadable(path: String)
    case unwritable(path: String, reason: String)
    case invalidSpec(path: String, reason: String)
    /// A value a spec, combiner or trigger cannot take.
    case invalid(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read watermark spec \(path)"
        case .unwritable(let path, let reason): return "cannot write \(path): \(reason)"
        case .invalidSpec(let path, let reason): return "invalid watermark spec \(path): \(reason)"
        case .invalid(let reason): return reason
        case .mismatch(let reason): return reason
        }
    }
}
