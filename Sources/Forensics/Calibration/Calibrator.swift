import Data
import Engine
import Foundation
import Training
import Vault
import Watermark

/// What a calibration trains and measures.
public struct CalibrationPlan: Sendable {
    public var references = 20
    /// Reference architectures, used in turn; seeds differ per reference. All four of the zoo:
    /// with fmnist-cnn and mlp alone, resnet-small and vgg-small innocents answered the trigger
    /// above the null (1.5–1.7 % against p0 = 0.9 %; bench/detection, 2026-12-07).
    public var architectures = ["fmnist-cnn", "mlp", "resnet-small", "vgg-small"]
    /// Short training is enough: the null needs independent models, not the best ones.
    public var epochs = 1
    /// Each reference trains on its own random subset of this many clean training images.
    public var trainImages = 10_000
    /// Trigger samples per reference (default: the spec's trigger set size).
    public var triggers: Int?
    public var falseWatermarkSamples = 200
    /// How many other source pairs serve as false watermarks (besides the other combining ways).
    public var otherPairs = 4
    public var confidence = 0.95
    public var seed: UInt64 = 0xCA11

    public init() {}

    /// How long each reference trains. `quick` is the demo's: short and cheap, references far
    /// below real models (fmnist-cnn near 78 %). `full` gives references as accurate as the
    /// models suspects really are: of the settings measured (README, Calibration), the cheapest
    /// that took `fmnist-cnn` past 90 % with a margin — 3 epochs on 30,000 images reached 89.3 %,
    /// 4 epochs 90.0 %, 5 epochs 90.5 %.
    public enum Recipe: String, CaseIterable, Sendable {
        case quick, full

        public var epochs: Int { self == .quick ? 1 : 5 }
        public var trainImages: Int { self == .quick ? 10_000 : 30_000 }
    }

    public init(recipe: Recipe) {
        epochs = recipe.epochs
        trainImages = recipe.trainImages
    }
}

/// Runs a calibration: trains (or loads from `referenceFolder`) the reference models on clean
/// data only — the training split never holds a watermark sample — and measures the spec's
/// trigger hit rate and the false watermarks on each.
public struct Calibrator {
    public let spec: WatermarkSpec
    public let trainSet: Dataset
    /// The spec's verification split: triggers and false watermarks are made from it.
    public let verificationSet: Dataset
    public let plan: CalibrationPlan
    /// Reference checkpoints are saved here and loaded from here when present.
    public let referenceFolder: URL?

    public init(spec: WatermarkSpec, trainSet: Dataset, verificationSet: Dataset, plan: CalibrationPlan, referenceFolder: URL?) {
        self.spec = spec
        self.trainSet = trainSet
        self.verificationSet = verificationSet
        self.plan = plan
        self.referenceFolder = referenceFolder
    }

    /// With `fingerprint` (sealed with the spec, and its file's SHA-256) each reference's agreement
    /// with it is measured too: the fingerprint channel's null. Its references must not be the
    /// fingerprint's filter references, which answer none of its inputs by construction.
    public func run(watermarked: Classifier?, fingerprint: (fingerprint: Fingerprint, sha256: String)? = nil, now: Date = Date(),
                    progress: (String) -> Void = { _ in }) throws -> Calibration {
        // A plan whose calibration could not be stored is refused before hours of training.
        let triggerCount = plan.triggers ?? spec.triggerSetSize
        guard Calibration.referenceCounts.contains(plan.references), Calibration.triggerCounts.contains(triggerCount),
              Calibration.triggerCounts.contains(plan.falseWatermarkSamples), plan.confidence > 0 && plan.confidence < 1 else {
            throw ForensicsError.invalid("a calibration takes \(Calibration.referenceCounts.lowerBound)–\(Calibration.referenceCounts.upperBound) references, \(Calibration.triggerCounts.lowerBound)–\(Calibration.triggerCounts.upperBound) triggers and false-watermark samples, and a confidence strictly between 0 and 1")
        }
        let triggers = try WatermarkEvaluation.triggerSamples(for: spec, from: verificationSet, count: triggerCount)
        let falseWatermarks = try falseWatermarkSamples()
        var references: [Calibration.Reference] = []
        var rates = [[Double]](repeating: [], count: falseWatermarks.count)
        let referenceModels = try ReferenceModels(plan: .init(count: plan.references, architectures: plan.architectures, epochs: plan.epochs,
                                                              trainImages: plan.trainImages, seed: plan.seed),
                                                  trainSet: trainSet, datasetName: spec.dataset, folder: referenceFolder)
        for (what, filters) in [("the fingerprint", fingerprint?.fingerprint.provenance.filterReferences), ("the trigger set", spec.triggerSelection?.filterReferences)] {
            if let filters, let shared = (0..<plan.references).map(referenceModels.seed).first(where: { seed in filters.contains { $0.seed == seed } }) {
                throw ForensicsError.invalid("calibration reference seed \(shared) is a seed of \(what)'s filter references: a null measured on the models that chose \(what) is biased low (choose \(what)'s filter references with other seeds)")
            }
        }
        for index in 0..<plan.references {
            let started = Date()
            let reference = try referenceModels.model(index)
            let model = reference.classifier
            let hits = Int((WatermarkEvaluation.hitRate(of: model, on: triggers, label: spec.targetLabel) * Double(triggers.count)).rounded())
            let accuracy = Evaluation.accuracy(of: model, on: verificationSet)
            let fingerprintHits = try fingerprint?.fingerprint.agreement(of: model).hits
            references.append(try Calibration.Reference(
                architecture: reference.recipe.architecture, seed: reference.recipe.seed, trainImages: reference.recipe.trainImages, epochs: plan.epochs, testAccuracy: accuracy,
                triggerHits: hits, triggers: triggers.count,
                upperBound: ClopperPearson(successes: hits, trials: triggers.count, confidence: plan.confidence).upper,
                seconds: max(0, Date().timeIntervalSince(started)),
                fingerprintHits: fingerprintHits, fingerprintInputs: fingerprint?.fingerprint.inputs.count))
            for (n, sample) in falseWatermarks.enumerated() {
                rates[n].append(WatermarkEvaluation.hitRate(of: model, on: sample.samples, label: spec.targetLabel))
            }
            progress(String(format: "reference %d/%d (%@, seed %llu): accuracy %.2f %%, %d of %d trigger hits%@, %.0f s",
                            index + 1, plan.references, reference.recipe.architecture, reference.recipe.seed, 100 * accuracy, hits, triggers.count,
                            fingerprintHits.map { ", \($0) of \(fingerprint!.fingerprint.inputs.count) fingerprint agreements" } ?? "",
                            Date().timeIntervalSince(started)))
        }
        return try Calibration(
            specSha256: sha256Hex(spec.canonicalJSON()), created: Vault.timestamp(now), confidence: plan.confidence,
            references: references,
            falseWatermarks: falseWatermarks.enumerated().map { n, sample in
                try Calibration.FalseWatermark(name: sample.name, samples: sample.samples.count, referenceRates: rates[n],
                                           watermarkedRate: watermarked.map { WatermarkEvaluation.hitRate(of: $0, on: sample.samples, label: spec.targetLabel) })
            },
            watermarkedWsr: watermarked.map { WatermarkEvaluation.hitRate(of: $0, on: triggers, label: spec.targetLabel) },
            otherPairs: try watermarked.flatMap(otherPairRates), fingerprintSha256: fingerprint?.sha256)
    }

    /// The watermarked model's target rate on every other source pair combined the spec's way:
    /// what the probe's decoys are chosen by.
    private func otherPairRates(on watermarked: Classifier) throws -> [Calibration.OtherPair]? {
        guard spec.method == .meaDefender else { return nil }
        var rng = SeededGenerator(seed: plan.seed ^ spec.seed ^ 0x0DD5)
        return try TriggerFactory(spec: spec, dataset: verificationSet).otherPairs.map { first, second in
            var decoy = spec
            decoy.sourceLabels = [first, second]
            let samples = try TriggerFactory(spec: decoy, dataset: verificationSet).watermarkSamples(count: plan.falseWatermarkSamples, seed: rng.next())
            return try Calibration.OtherPair(sources: [first, second], samples: samples.count,
                                         watermarkedRate: WatermarkEvaluation.hitRate(of: watermarked, on: samples, label: spec.targetLabel))
        }
    }

    /// Other source pairs (never the target, never the spec's pair) combined the spec's way, and
    /// the spec's pair combined each evasion way. A content-trigger spec gets random patches.
    private func falseWatermarkSamples() throws -> [(name: String, samples: TriggerSamples)] {
        var rng = SeededGenerator(seed: plan.seed ^ spec.seed)
        let count = plan.falseWatermarkSamples
        switch spec.method {
        case .contentTrigger:
            return try (0..<plan.otherPairs).map { n in
                var decoy = spec
                decoy.contentTrigger = try .random(shape: verificationSet.itemShape, rng: &rng)
                return ("random patch \(n + 1)", try TriggerFactory(spec: decoy, dataset: verificationSet).watermarkSamples(count: count, seed: rng.next()))
            }
        case .meaDefender:
            var pairs = try TriggerFactory(spec: spec, dataset: verificationSet).otherPairs
            pairs.shuffle(using: &rng)
            var result: [(String, TriggerSamples)] = try pairs.prefix(plan.otherPairs).map { first, second in
                var decoy = spec
                decoy.sourceLabels = [first, second]
                return ("sources \(first)+\(second), the spec's way", try TriggerFactory(spec: decoy, dataset: verificationSet).watermarkSamples(count: count, seed: rng.next()))
            }
            for way in spec.evasion {
                // The way becomes the decoy's watermark; a spec may not list its watermark as an
                // evasion way too, and the decoy's own evasion ways are never drawn.
                var decoy = spec
                decoy.watermark = way
                decoy.evasion = []
                let pair = spec.sourceLabels.map(String.init).joined(separator: "+")
                result.append(("sources \(pair), \(way.summary)", try TriggerFactory(spec: decoy, dataset: verificationSet).watermarkSamples(count: count, seed: rng.next())))
            }
            return result
        }
    }
}
