import Data
import Engine
import Training

/// Accuracy, watermark success rate and watermark false-positive rate of a model for a spec.
public struct WatermarkScores: Codable, Sendable {
    /// Top-1 accuracy on the clean test split.
    public var accuracy: Double
    /// Share of fresh watermark samples (test-split sources) labelled with the target.
    public var wsr: Double
    /// Share of evasion-style mixes (other combining ways, same sources) labelled with the target.
    public var wfpr: Double?
    public var triggerSamples: Int
}

public enum WatermarkEvaluation {
    /// Share of `samples` the classifier labels `label`.
    public static func hitRate(of classifier: Classifier, on samples: TriggerSamples, label: Int) -> Double {
        guard samples.count > 0 else { return 0 }
        let predicted = samples.images.withUnsafeBufferPointer { classifier.labels($0) }
        return Double(predicted.filter { $0 == Int32(label) }.count) / Double(samples.count)
    }

    /// The fixed verification samples of a spec: `spec.triggerSetSize` watermark samples and as many
    /// evasion mixes, made from `verificationSet` (the spec's verification split) with seeds
    /// derived from the spec's, so every evaluation of one spec sees the same images.
    public static func verificationSamples(for spec: WatermarkSpec, from verificationSet: Dataset) throws
        -> (watermark: TriggerSamples, evasion: TriggerSamples) {
        (try triggerSamples(for: spec, from: verificationSet),
         try TriggerFactory(spec: spec, dataset: verificationSet).evasionSamples(count: spec.triggerSetSize, seed: spec.seed ^ evasionSeed))
    }

    /// The verification trigger samples alone: the first `count` (default `spec.triggerSetSize`)
    /// of them — a shorter set is a prefix of a longer one. With a trigger selection, the first
    /// `count` it kept of its pool; it has no more than it kept.
    public static func triggerSamples(for spec: WatermarkSpec, from verificationSet: Dataset, count: Int? = nil) throws -> TriggerSamples {
        let factory = try TriggerFactory(spec: spec, dataset: verificationSet), count = count ?? spec.triggerSetSize
        guard let selection = spec.triggerSelection else { return factory.watermarkSamples(count: count, seed: spec.seed ^ triggerSeed) }
        guard count <= selection.kept.count else {
            throw WatermarkError.mismatch("\(count) trigger samples were asked for; the spec's trigger selection kept \(selection.kept.count)")
        }
        return factory.watermarkSamples(count: selection.poolSize, seed: spec.seed ^ triggerSeed, keeping: selection.kept.prefix(count))
    }

    /// The pool a trigger selection is chosen from: the first `poolSize` samples an unfiltered spec draws.
    public static func triggerPool(for spec: WatermarkSpec, from verificationSet: Dataset, poolSize: Int) throws -> TriggerSamples {
        var unfiltered = spec
        unfiltered.triggerSelection = nil
        return try triggerSamples(for: unfiltered, from: verificationSet, count: poolSize)
    }

    private static let triggerSeed: UInt64 = 0x7E57, evasionSeed: UInt64 = 0xE7A5_7E57

    public static func scores(of classifier: Classifier, spec: WatermarkSpec, testSet: Dataset) throws -> WatermarkScores {
        let samples = try verificationSamples(for: spec, from: testSet)
        return WatermarkScores(accuracy: Evaluation.accuracy(of: classifier, on: testSet),
                               wsr: hitRate(of: classifier, on: samples.watermark, label: spec.targetLabel),
                               wfpr: samples.evasion.count > 0 ? hitRate(of: classifier, on: samples.evasion, label: spec.targetLabel) : nil,
                               triggerSamples: samples.watermark.count)
    }
}
