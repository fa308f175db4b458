import Engine
import Foundation

/// Probability vectors to learn instead of the data set's labels (distillation): one row of
/// `classes` values per training item, matched at `temperature` (the loss is scaled by T² so its
/// gradients keep the size of an ordinary cross-entropy's).
public struct SoftTargets: Sendable {
    public var probabilities: [Float]
    public var temperature: Float

    public init(probabilities: [Float], temperature: Float) {
        self.probabilities = probabilities
        self.temperature = temperature
    }

    /// The targets the student matches: softmax(log p / T), i.e. p^(1/T) renormalised.
    func softened(rows indices: ArraySlice<Int>, classes: Int, into targets: Tensor) {
        targets.reshape([indices.count, classes])
        let t = targets.data, inverse = 1 / temperature
        for (row, index) in indices.enumerated() {
            let p = index * classes
            var total: Float = 0
            for k in 0..<classes {
                let value = Foundation.pow(Swift.max(probabilities[p + k], 1e-30), inverse)
                t[row * classes + k] = value
                total += value
            }
            for k in 0..<classes { t[row * classes + k] /= total }
        }
    }
}

/// Cross-entropy on the set's labels, or soft cross-entropy on target rows: distillation's soft
/// targets, label smoothing, mixup and CutMix. `penalty`, called after the backward pass, adds a
/// regulariser's gradient into the parameters' gradients and returns its value.
public final class SupervisedObjective: TrainingObjective {
    let configuration: TrainingConfiguration
    let softTargets: SoftTargets?
    let penalty: (() -> Float)?
    private let targets = Tensor(shape: [0])
    private let input = Tensor(shape: [0])
    private let logitGradient = Tensor(shape: [0])

    public init(configuration: TrainingConfiguration, softTargets: SoftTargets? = nil, penalty: (() -> Float)? = nil) {
        self.configuration = configuration
        self.softTargets = softTargets
        self.penalty = penalty
    }

    /// Plain hard labels keep the hard-label loss, so the default recipe's results stay as they were.
    private var trainsOnTargetRows: Bool {
        softTargets != nil || configuration.labelSmoothing > 0 || configuration.mixing.isActive
    }

    public func backward(_ batch: TrainingBatch, classifier: Classifier) -> StepOutcome {
        let classes = classifier.classCount, count = batch.labels.count, shape = classifier.card.inputShape
        if trainsOnTargetRows {
            if let softTargets {
                softTargets.softened(rows: batch.indices, classes: classes, into: targets)
                LabelSmoothing.smooth(targets, epsilon: configuration.labelSmoothing)
            } else {
                LabelSmoothing.targets(labels: batch.labels, classes: classes, epsilon: configuration.labelSmoothing, into: targets)
            }
        }
        if configuration.mixing.isActive {
            // Its own stream: the augmentation's draws stay those of a run without mixing.
            configuration.mixing.apply(to: batch.pixels, targets: targets, count: count, shape: shape, seed: batch.seed ^ 0x4D49_5855_5043_5554)
        }
        classifier.normalize(batch.pixels, count: count, into: input)
        let network = classifier.network
        let logits = network.forward(input, training: true)
        logitGradient.reshape(logits.shape)
        logitGradient.fill(0)
        var loss: Float
        if trainsOnTargetRows {
            let t = softTargets?.temperature ?? 1
            loss = Loss.softCrossEntropy(logits: logits, targets: targets, temperature: t, gradient: logitGradient, scale: t * t)
        } else {
            loss = Loss.crossEntropy(logits: logits, labels: batch.labels, gradient: logitGradient)
        }
        network.backward(logitGradient)
        if let penalty { loss += penalty() }
        return StepOutcome(loss: loss, correct: countCorrect(logits, labels: batch.labels), images: count)
    }
}
