import Foundation
import Engine

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

    public init(method: Method, dataset: String, classNames: [String], sourceLabels: [Int], targetLabel: Int,
                watermark: Combiner?, evasion: [Combiner], contentTrigger: ContentTrigger?, seed: UInt64,
                triggerSetSize: Int, verificationSplit: String = "test", modelDigest: String? = nil) {
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
    }

    /// Problems that make the spec unusable, in words; empty when it is sound.
    public var problems: [String] {
        var found: [String] = []
        if format != Self.currentFormat { found.append("format is '\(format)', expected '\(Self.currentFormat)'") }
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
        case .contentTrigger:
            if contentTrigger == nil { found.append("content-trigger needs a patch") }
        }
        if triggerSetSize <= 0 { found.append("trigger set size must be positive") }
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
        let spec: WatermarkSpec
        do {
            spec = try CanonicalJSON.decode(WatermarkSpec.self, from: data)
        } catch {
            throw WatermarkError.invalidSpec(path: path, reason: describe(error))
        }
        if let problem = spec.problems.first { throw WatermarkError.invalidSpec(path: path, reason: problem) }
        return spec
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

/// A decoding error in words a user can act on (which key, what was wrong).
func describe(_ error: Error) -> String {
    guard let decoding = error as? DecodingError else { return error.localizedDescription }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "" : " at \(keys)"
    }
    switch decoding {
    case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(path(context))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return context.debugDescription + path(context)
    @unknown default: return "\(decoding)"
    }
}

public enum WatermarkError: Error, CustomStringConvertible {
    case unreadable(path: String)
    case unwritable(path: String, reason: String)
    case invalidSpec(path: String, reason: String)
    case invalidChoice(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read watermark spec \(path)"
        case .unwritable(let path, let reason): return "cannot write \(path): \(reason)"
        case .invalidSpec(let path, let reason): return "invalid watermark spec \(path): \(reason)"
        case .invalidChoice(let reason): return reason
        case .mismatch(let reason): return reason
        }
    }
}
