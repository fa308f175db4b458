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
        let factory = try TriggerFactory(spec: spec, dataset: verificationSet)
        return (factory.watermarkSamples(count: spec.triggerSetSize, seed: spec.seed ^ triggerSeed),
                factory.evasionSamples(count: spec.triggerSetSize, seed: spec.seed ^ evasionSeed))
    }

    /// The verification trigger samples alone: the first `count` (default `spec.triggerSetSize`)
    /// of them — a shorter set is a prefix of a longer one.
    public static func triggerSamples(for spec: WatermarkSpec, from verificationSet: Dataset, count: Int? = nil) throws -> TriggerSamples {
        try TriggerFactory(spec: spec, dataset: verificationSet).watermarkSamples(count: count ?? spec.triggerSetSize, seed: spec.seed ^ triggerSeed)
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
