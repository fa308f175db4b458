import Data
import Engine
import Training

public struct EmbeddingResult: Sendable {
    /// Each epoch's figures, with the tasks' mean losses and weights and, when measured, the WSR.
    public var epochs: [EpochSummary]
    public var trainingSeconds: Double
}

/// Trains (from scratch or on from a checkpoint) a classifier that carries the spec's watermark:
/// the training loop with the embedding objective.
public final class EmbeddingTrainer {
    public let classifier: Classifier
    public let configuration: EmbeddingConfiguration
    public let factory: TriggerFactory

    public init(classifier: Classifier, factory: TriggerFactory, configuration: EmbeddingConfiguration) {
        self.classifier = classifier
        self.factory = factory
        self.configuration = configuration
    }

    /// Embeds for `configuration.training.epochs` epochs; after each, measures test accuracy and the
    /// WSR on `verification` samples when given.
    public func embed(testSet: Dataset? = nil, verification: TriggerSamples? = nil,
                      progress: (TrainingProgress) -> Void = { _ in }) -> EmbeddingResult {
        let objective = EmbeddingObjective(factory: factory, configuration: configuration)
        let trainer = Trainer(classifier: classifier, configuration: configuration.training)
        let result = trainer.train(on: factory.dataset, objective: objective, testSet: testSet, afterEpoch: { summary in
            summary.wsr = verification.map { WatermarkEvaluation.hitRate(of: self.classifier, on: $0, label: self.factory.spec.targetLabel) }
        }, progress: progress)
        return EmbeddingResult(epochs: result.epochs, trainingSeconds: result.trainingSeconds)
    }
}
