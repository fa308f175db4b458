import Data
import Engine
import Foundation
import Training

/// Chooses a protected model's fingerprint and its decoys by one rule with the roles swapped:
/// draws candidates (`FingerprintCandidates`) and splits them, in a seeded order, into two
/// halves. From the first half the fingerprint takes inputs on which the protected model answers
/// what neither its twin nor any filter reference does, labelled with the protected model's
/// answers; from the second the decoys take inputs on which the twin answers what neither the
/// protected model nor any filter reference does, labelled with the twin's answers.
public struct FingerprintMaker {
    public struct Plan: Sendable {
        public var kind = FingerprintCandidates.Kind.inverted
        /// For adversarial candidates: the L∞ radius and the PGD steps.
        public var epsilon: Float = 0.1
        public var steps = 10
        public var inputs = 500
        public var decoys = 500
        public var candidates = 20_000
        /// Candidates are drawn with this seed.
        public var seed = Self.fingerprintSeed
        /// Filter reference `n` trains with seed `filterReferences.seed + n`: far from the
        /// calibration's, so the models that choose a fingerprint never measure its null. All
        /// augmentation presets in turn: what a model answers off the data follows its recipe as
        /// well as its architecture.
        public var filterReferences = ReferenceModels.Plan(count: 8, architectures: CalibrationPlan().architectures,
                                                           augmentations: ["light", "none", "strong"], epochs: CalibrationPlan.Recipe.full.epochs,
                                                           trainImages: CalibrationPlan.Recipe.full.trainImages, seed: Self.fingerprintSeed)
        private static let fingerprintSeed: UInt64 = 0xF1A6_0000

        public init() {}

        public var problem: String? {
            for (name, value) in [("inputs", inputs), ("candidates", candidates)] where !Fingerprint.counts.contains(value) {
                return "\(name) must be \(Fingerprint.counts.lowerBound)–\(Fingerprint.counts.upperBound), got \(value)"
            }
            guard (0...Fingerprint.counts.upperBound).contains(decoys) else { return "decoys must be 0–\(Fingerprint.counts.upperBound), got \(decoys)" }
            guard (1...100).contains(filterReferences.count) else { return "references must be 1–100, got \(filterReferences.count)" }
            if let problem = filterReferences.problem { return problem }
            guard epsilon.isFinite, epsilon > 0, epsilon <= 1, (1...1000).contains(steps) else { return "epsilon must lie in (0, 1] and steps in 1–1000" }
            return nil
        }
    }

    public let plan: Plan
    /// The data set's name in the catalog ("fashion-mnist").
    public let datasetName: String
    /// The clean training split the filter references learn from.
    public let trainSet: Dataset
    /// The held-out split candidates are made from, and its name.
    public let candidateSet: Dataset
    public let candidateSplit: String
    /// Filter reference checkpoints are kept here and reused.
    public let referenceFolder: URL?

    public init(plan: Plan, datasetName: String, trainSet: Dataset, candidateSet: Dataset, candidateSplit: String, referenceFolder: URL?) throws {
        if let problem = plan.problem { throw ForensicsError.invalid(problem) }
        guard candidateSet.count > 0, trainSet.count > 0 else { throw ForensicsError.invalid("the training and candidate splits must not be empty") }
        self.plan = plan
        self.datasetName = datasetName
        self.trainSet = trainSet
        self.candidateSet = candidateSet
        self.candidateSplit = candidateSplit
        self.referenceFolder = referenceFolder
    }

    /// `twin` is a clean model trained with the protected model's recipe and other seeds: an
    /// independent suspect is as close to it as to the protected model, so it answers the decoys'
    /// labels (the twin's own odd answers) as often as the fingerprint's.
    public func make(protected model: Classifier, checkpointSha256: String, twin: Classifier, twinSha256: String,
                     progress: (String) -> Void = { _ in }) throws -> Fingerprint {
        for classifier in [model, twin] {
            guard classifier.card.inputShape == candidateSet.itemShape, classifier.classCount == candidateSet.classNames.count else {
                throw ForensicsError.invalid("a model takes \(classifier.card.inputShape) into \(classifier.classCount) classes; \(candidateSet.name) is \(candidateSet.itemShape) into \(candidateSet.classNames.count)")
            }
        }
        guard twinSha256 != checkpointSha256 else { throw ForensicsError.invalid("the twin must be another model than the protected one") }
        let candidates = switch plan.kind {
        case .inverted: FingerprintCandidates(from: candidateSet, count: plan.candidates, seed: plan.seed)
        case .adversarial: FingerprintCandidates(adversarialFrom: candidateSet, against: model, count: plan.candidates, epsilon: plan.epsilon,
                                                 steps: plan.steps, seed: plan.seed)
        }
        let answers = candidates.images.withUnsafeBufferPointer { model.labels($0) }
        let twinAnswers = candidates.images.withUnsafeBufferPointer { twin.labels($0) }
        // Whether the protected model's (the twin's) answer is its own: nobody else gives it.
        var unshared = answers.indices.map { answers[$0] != twinAnswers[$0] }
        var twinUnshared = unshared
        let references = try ReferenceModels(plan: plan.filterReferences, trainSet: trainSet, datasetName: datasetName, folder: referenceFolder)
        var filters: [ReferenceRecipe] = []
        for index in 0..<plan.filterReferences.count {
            let started = Date()
            let reference = try references.model(index)
            let theirs = candidates.images.withUnsafeBufferPointer { reference.classifier.labels($0) }
            for n in answers.indices {
                if theirs[n] == answers[n] { unshared[n] = false }
                if theirs[n] == twinAnswers[n] { twinUnshared[n] = false }
            }
            filters.append(reference.recipe)
            progress(String(format: "filter reference %d/%d (%@, augmentation %@): %d (twin %d) of %d candidates answered by nobody else so far, %.0f s",
                            index + 1, plan.filterReferences.count, reference.recipe.architecture, reference.recipe.augmentation, unshared.filter { $0 }.count,
                            twinUnshared.filter { $0 }.count, answers.count, Date().timeIntervalSince(started)))
        }
        var order = Array(answers.indices)
        var rng = SeededGenerator(seed: plan.seed ^ 0x5EED)
        order.shuffle(using: &rng)
        let half = order.count / 2
        let chosen = order[..<half].filter { unshared[$0] }.prefix(plan.inputs)
        let decoyItems = order[half...].filter { twinUnshared[$0] }.prefix(plan.decoys)
        guard chosen.count == plan.inputs, decoyItems.count == plan.decoys else {
            throw ForensicsError.invalid("of \(half) candidates each, \(chosen.count) are answered by the model alone and \(decoyItems.count) by the twin alone; \(plan.inputs) and \(plan.decoys) are needed (draw more candidates, or ask for fewer inputs and decoys)")
        }
        let size = candidateSet.itemSize
        let images = { (indices: ArraySlice<Int>) in indices.flatMap { candidates.images[$0 * size..<($0 + 1) * size] } }
        return try Fingerprint(
            provenance: Fingerprint.Provenance(dataset: datasetName, split: candidateSplit, classNames: candidateSet.classNames,
                                               protectedModelSha256: checkpointSha256, twinModelSha256: twinSha256,
                                               candidates: Fingerprint.Candidates(kind: plan.kind.rawValue, count: plan.candidates, seed: plan.seed,
                                                                                  epsilon: plan.kind == .adversarial ? plan.epsilon : nil,
                                                                                  steps: plan.kind == .adversarial ? plan.steps : nil),
                                               filterReferences: filters),
            itemShape: candidateSet.itemShape,
            inputs: Fingerprint.Inputs(images: images(chosen), labels: chosen.map { answers[$0] }),
            decoys: Fingerprint.Inputs(images: images(decoyItems), labels: decoyItems.map { twinAnswers[$0] }))
    }
}
