import Data
import Engine
import Foundation
import Training

/// Chooses which trigger samples verification uses (DeepTracer's key-sample filtering): draws a
/// pool the spec's way, trains simulated thieves (the protected model distilled into each of
/// `copies`, then each copy fine-tuned on true labels) and independent filter references, and
/// keeps the samples the protected model answers with the target and no reference does, those the
/// most simulated thieves answer with the target first. The references' seeds are far from the
/// calibration's: a null measured on the models that chose the triggers would be biased low.
public struct TriggerFilter {
    public struct Plan: Sendable {
        public var poolSize = 20_000
        public var keep = 1000
        /// Simulated copies' architectures: one distilled copy each.
        public var copies = ["fmnist-cnn", "mlp"]
        /// Training-split images each copy is distilled on (soft labels at the thieves' T = 7), and epochs.
        public var copyQueries = 20_000
        public var copyEpochs = 5
        /// Clean training images each copy is then fine-tuned on with true labels (0: not fine-tuned).
        public var fineTuneImages = 6000
        public var fineTuneEpochs = 5
        public var fineTuneLearningRate: Float = 0.001
        /// Filter reference `n` trains with seed `filterReferences.seed + n`, simulated copy `n`
        /// with `filterReferences.seed + 0x100 + n`: far from the calibration's (0xCA11) and the
        /// fingerprint's (0xF1A60000) seeds. The calibration's full recipe: filter references as
        /// strong as the null's.
        public var filterReferences = ReferenceModels.Plan(count: 4, architectures: ModelZoo.architectures, augmentations: ["light", "none", "strong"],
                                                           epochs: 5, trainImages: 30_000, seed: 0x7F17_0000)

        public init() {}

        public var problem: String? {
            guard TriggerSelection.poolSizes.contains(poolSize) else {
                return "the pool must hold \(TriggerSelection.poolSizes.lowerBound)–\(TriggerSelection.poolSizes.upperBound) samples, got \(poolSize)"
            }
            guard WatermarkSpec.triggerSetSizes.contains(keep), keep <= poolSize else { return "keep must be 1–\(min(poolSize, WatermarkSpec.triggerSetSizes.upperBound)), got \(keep)" }
            guard copies.count <= TriggerSelection.largestCopyCount, copies.allSatisfy(ModelZoo.architectures.contains) else {
                return "copies must be up to \(TriggerSelection.largestCopyCount) of \(ModelZoo.architectures.joined(separator: ", "))"
            }
            guard (0...100).contains(filterReferences.count), !(copies.isEmpty && filterReferences.count == 0) else {
                return "references must be 0–100, and copies and references not both none"
            }
            if let problem = filterReferences.problem { return problem }
            guard copyQueries >= 1, copyEpochs >= 1, fineTuneImages >= 0, fineTuneEpochs >= 1 else {
                return "the copies' queries and epochs must be at least 1 (fine-tuning images 0 or more)"
            }
            guard fineTuneLearningRate.isFinite, fineTuneLearningRate > 0 else { return "the fine-tuning learning rate must be positive" }
            return nil
        }
    }

    public let plan: Plan
    /// The data set's name in the catalog, and its clean training split (queries, fine-tuning and references).
    public let datasetName: String
    public let trainSet: Dataset
    /// Filter reference checkpoints are kept here and reused.
    public let referenceFolder: URL?

    public init(plan: Plan, datasetName: String, trainSet: Dataset, referenceFolder: URL?) throws {
        if let problem = plan.problem { throw WatermarkError.invalid(problem) }
        guard trainSet.count > 0 else { throw WatermarkError.invalid("the training split must not be empty") }
        self.plan = plan
        self.datasetName = datasetName
        self.trainSet = trainSet
        self.referenceFolder = referenceFolder
    }

    /// `spec` with the chosen trigger samples as its trigger selection and `plan.keep` as its trigger set size.
    /// `training` follows each simulated copy's distillation and fine-tuning.
    public func filter(_ spec: WatermarkSpec, protected model: Classifier, verificationSet: Dataset,
                       progress: (String) -> Void = { _ in }, training: (TrainingProgress) -> Void = { _ in }) throws -> WatermarkSpec {
        guard model.card.inputShape == verificationSet.itemShape, model.classCount == spec.classNames.count,
              trainSet.itemShape == verificationSet.itemShape else {
            throw WatermarkError.mismatch("the model takes \(model.card.inputShape) into \(model.classCount) classes; the spec's \(spec.dataset) is \(verificationSet.itemShape) into \(spec.classNames.count)")
        }
        let pool = try WatermarkEvaluation.triggerPool(for: spec, from: verificationSet, poolSize: plan.poolSize)
        let target = Int32(spec.targetLabel)
        let hits = { (classifier: Classifier) in pool.images.withUnsafeBufferPointer { classifier.labels($0) }.map { $0 == target } }
        var eligible = hits(model)
        progress("the protected model answers \(eligible.filter { $0 }.count) of \(pool.count) pool samples with the target")

        var thieves: [SimulatedThief] = []
        for (index, architecture) in plan.copies.enumerated() {
            let started = Date(), seed = plan.filterReferences.seed &+ 0x100 &+ UInt64(index)
            var configuration = TrainingConfiguration()
            (configuration.epochs, configuration.seed) = (plan.copyEpochs, seed)
            let copy = try ExtractionAttack(surrogateArchitecture: architecture, labels: .soft(temperature: 7), training: configuration)
                .run(victim: model, queries: trainSet.randomSubset(plan.copyQueries, seed: seed), progress: training)
            thieves.append(SimulatedThief(architecture: architecture, seed: seed, fineTuneImages: 0, fineTuneRate: 0, hits: hits(copy)))
            progress(String(format: "simulated copy %d/%d (%@): answers %d of the pool with the target, %.0f s", index + 1, plan.copies.count,
                            architecture, thieves.last!.hits.filter { $0 }.count, Date().timeIntervalSince(started)))
            guard plan.fineTuneImages > 0 else { continue }
            var fineTuning = TrainingConfiguration()
            (fineTuning.epochs, fineTuning.seed, fineTuning.learningRate) = (plan.fineTuneEpochs, seed, plan.fineTuneLearningRate)
            _ = Trainer(classifier: copy, configuration: fineTuning).train(on: trainSet.randomSubset(plan.fineTuneImages, seed: seed ^ 0xF17E), progress: training)
            thieves.append(SimulatedThief(architecture: architecture, seed: seed, fineTuneImages: plan.fineTuneImages,
                                          fineTuneRate: plan.fineTuneLearningRate, hits: hits(copy)))
            progress(String(format: "  fine-tuned on %d clean images: answers %d of the pool with the target, %.0f s", plan.fineTuneImages,
                            thieves.last!.hits.filter { $0 }.count, Date().timeIntervalSince(started)))
        }

        let references = try ReferenceModels(plan: plan.filterReferences, trainSet: trainSet, datasetName: datasetName, folder: referenceFolder)
        var recipes: [ReferenceRecipe] = []
        for index in 0..<plan.filterReferences.count {
            let started = Date(), reference = try references.model(index)
            for (n, hit) in hits(reference.classifier).enumerated() where hit { eligible[n] = false }
            recipes.append(reference.recipe)
            progress(String(format: "filter reference %d/%d (%@, augmentation %@): %d pool samples left, %.0f s", index + 1, plan.filterReferences.count,
                            reference.recipe.architecture, reference.recipe.augmentation, eligible.filter { $0 }.count, Date().timeIntervalSince(started)))
        }

        let votes = pool.labels.indices.map { n in thieves.filter { $0.hits[n] }.count }
        let kept = try Self.choose(keep: plan.keep, eligible: eligible, votes: votes)
        let rate = { (hits: [Bool], among: [Int]) in Double(among.filter { hits[$0] }.count) / Double(among.count) }
        let copies = try thieves.map { thief in
            try TriggerSelection.SimulatedCopy(architecture: thief.architecture, queries: plan.copyQueries, epochs: plan.copyEpochs,
                                               seed: thief.seed, fineTuneImages: thief.fineTuneImages,
                                               fineTuneLearningRate: thief.fineTuneRate,
                                               poolHitRate: rate(thief.hits, Array(pool.labels.indices)), keptHitRate: rate(thief.hits, kept))
        }
        var filtered = spec
        filtered.triggerSelection = try TriggerSelection(poolSize: plan.poolSize, kept: kept, simulatedCopies: copies, filterReferences: recipes)
        filtered.triggerSetSize = plan.keep
        if let problem = filtered.problems.first { throw WatermarkError.invalid(problem) }
        return filtered
    }

    /// The rule: `keep` of the eligible samples, the most votes first and among equals the
    /// earliest, as ascending indices.
    static func choose(keep: Int, eligible: [Bool], votes: [Int]) throws -> [Int] {
        let candidates = eligible.indices.filter { eligible[$0] }
        guard candidates.count >= keep else {
            throw WatermarkError.invalid("\(candidates.count) of \(eligible.count) pool samples are answered with the target by the protected model and by no filter reference; \(keep) are needed (draw a larger pool, or keep fewer)")
        }
        return candidates.sorted { (votes[$0], $1) > (votes[$1], $0) }.prefix(keep).sorted()
    }

    /// A simulated copy and which pool samples it answers with the target.
    private struct SimulatedThief {
        let architecture: String
        let seed: UInt64
        let fineTuneImages: Int
        let fineTuneRate: Float
        let hits: [Bool]
    }
}
