import Data
import Engine
import Training

/// What an embedding epoch must reach for its model to be kept: the WSR on fresh test-split
/// watermark samples and, when set, the test accuracy.
public struct EmbeddingTargets: Sendable, Equatable {
    public var minimumWSR: Double
    public var minimumAccuracy: Double?

    public init(minimumWSR: Double, minimumAccuracy: Double? = nil) {
        self.minimumWSR = minimumWSR
        self.minimumAccuracy = minimumAccuracy
    }

    func areMet(by epoch: EpochSummary) -> Bool {
        guard let wsr = epoch.wsr, wsr >= minimumWSR else { return false }
        guard let minimumAccuracy else { return true }
        return (epoch.testAccuracy ?? 0) >= minimumAccuracy
    }
}

public struct EmbeddingResult: Sendable {
    /// Each epoch's figures, with the tasks' mean losses and weights and, when measured, the WSR.
    public var epochs: [EpochSummary]
    public var trainingSeconds: Double
    /// The epoch whose weights the classifier holds: the most accurate one that met the targets;
    /// nil when none did (the classifier then holds the last epoch's weights).
    public var keptEpoch: Int?
}

/// Trains (from scratch or on from a checkpoint) a classifier that carries the spec's watermark:
/// the training loop with the embedding objective.
public final class EmbeddingTrainer {
    public let classifier: Classifier
    public let configuration: EmbeddingConfiguration
    public let factory: TriggerFactory
    /// The rehearsal's simulated thief, distilled alongside (`configuration.rehearsal`).
    public let student: Classifier?

    /// Throws when the rehearsal's student cannot be built for the data set.
    public init(classifier: Classifier, factory: TriggerFactory, configuration: EmbeddingConfiguration) throws {
        self.classifier = classifier
        self.factory = factory
        self.configuration = configuration
        student = try configuration.rehearsal.map {
            try Classifier.untrained($0.architecture, for: factory.dataset, seed: configuration.training.seed ^ 0x7E4E_A25A)
        }
    }

    /// Embeds for `configuration.training.epochs` epochs; after each, measures test accuracy and the
    /// WSR on `verification` samples when given. With `targets` (which need both), the epochs that
    /// meet them are candidates and the most accurate one is what the classifier holds at the end:
    /// the WSR of one epoch can fall in the next while the watermark and the main task compete.
    public func embed(testSet: Dataset? = nil, verification: TriggerSamples? = nil, targets: EmbeddingTargets? = nil,
                      progress: (TrainingProgress) -> Void = { _ in }) -> EmbeddingResult {
        precondition(targets == nil || (testSet != nil && verification != nil), "targets are checked on the test set and the verification samples")
        let objective = EmbeddingObjective(factory: factory, configuration: configuration, student: student)
        let trainer = Trainer(classifier: classifier, configuration: configuration.training)
        var best: (epoch: Int, accuracy: Double, weights: [[Float]])?
        let parameters = classifier.network.namedParameters.map(\.parameter)
        let result = trainer.train(on: factory.dataset, objective: objective, testSet: testSet, afterEpoch: { summary in
            summary.wsr = verification.map { WatermarkEvaluation.hitRate(of: self.classifier, on: $0, label: self.factory.spec.targetLabel) }
            guard let targets, targets.areMet(by: summary) else { return }
            let accuracy = summary.testAccuracy ?? 0
            if best == nil || accuracy > best!.accuracy {
                best = (summary.epoch, accuracy, parameters.map(\.values))
            }
        }, progress: progress)
        if let best, best.epoch != result.epochs.count {
            for (parameter, values) in zip(parameters, best.weights) { values.withUnsafeBufferPointer { parameter.load($0) } }
        }
        return EmbeddingResult(epochs: result.epochs, trainingSeconds: result.trainingSeconds,
                               keptEpoch: targets == nil ? result.epochs.count : best?.epoch)
    }
}
