import Data
import Dispatch
import Foundation
import Engine

/// Where a training run stands, for progress lines.
public struct TrainingProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var stepsPerEpoch: Int
    /// Mean loss and accuracy over the epoch so far.
    public var loss: Double
    public var accuracy: Double
    public var learningRate: Float
    public var imagesPerSecond: Double
    public var secondsRemaining: Double
    /// Set once an epoch is over and evaluated.
    public var testAccuracy: Double?
    public var epochFinished: Bool

    public init(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, accuracy: Double, learningRate: Float,
                imagesPerSecond: Double, secondsRemaining: Double, testAccuracy: Double?, epochFinished: Bool) {
        self.epoch = epoch
        self.epochs = epochs
        self.step = step
        self.stepsPerEpoch = stepsPerEpoch
        self.loss = loss
        self.accuracy = accuracy
        self.learningRate = learningRate
        self.imagesPerSecond = imagesPerSecond
        self.secondsRemaining = secondsRemaining
        self.testAccuracy = testAccuracy
        self.epochFinished = epochFinished
    }
}

/// One finished epoch.
public struct EpochSummary: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testAccuracy: Double?
    public var learningRate: Float
    public var seconds: Double
    public var imagesPerSecond: Double
}

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

public struct TrainingResult: Sendable {
    public var epochs: [EpochSummary]
    /// Training images per second over all epochs, evaluation excluded.
    public var imagesPerSecond: Double
    public var trainingSeconds: Double
}

/// Trains a classifier with softmax cross-entropy on a data set.
public final class Trainer {
    public let classifier: Classifier
    public let configuration: TrainingConfiguration
    private let optimizer: Optimizer
    private let input = Tensor(shape: [0])
    private let logitGradient = Tensor(shape: [0])

    public init(classifier: Classifier, configuration: TrainingConfiguration) {
        self.classifier = classifier
        self.configuration = configuration
        optimizer = configuration.makeOptimizer()
    }

    /// Trains for `configuration.epochs` epochs, evaluating on `testSet` after each when given.
    /// With `softTargets` the loss is the soft cross-entropy against them (the data set's labels
    /// then only count towards the reported training accuracy); label smoothing and mixing also
    /// train on target rows, built from the labels. `penalty`, called after every backward pass,
    /// adds a regulariser's gradient into the parameters' gradients and returns its value.
    /// `refresh` may rewrite the set's items at the start of every epoch (examples made against
    /// the current model); it keeps their count.
    public func train(on trainSet: Dataset, testSet: Dataset? = nil, softTargets: SoftTargets? = nil,
                      penalty: (() -> Float)? = nil, refresh: ((_ epoch: Int, _ set: inout Dataset) -> Void)? = nil,
                      progress: (TrainingProgress) -> Void = { _ in }) -> TrainingResult {
        if let softTargets {
            precondition(softTargets.probabilities.count == trainSet.count * classifier.classCount, "one target row per training item")
        }
        let targets = Tensor(shape: [0])
        precondition(trainSet.itemShape == classifier.card.inputShape, "data items \(trainSet.itemShape) do not fit the model's \(classifier.card.inputShape)")
        let config = configuration, network = classifier.network
        // Plain hard labels keep the hard-label loss, so the default recipe's results stay as they were.
        let trainsOnTargetRows = softTargets != nil || config.labelSmoothing > 0 || config.mixing.isActive
        var trainSet = trainSet
        let itemSize = trainSet.itemSize, schedule = config.effectiveSchedule
        var batchPixels = [Float](repeating: 0, count: config.batchSize * itemSize)
        var summaries: [EpochSummary] = []
        var trainingNanoseconds: UInt64 = 0
        var imagesSeen = 0
        let totalSteps = config.epochs * BatchOrder.batchCount(items: trainSet.count, batchSize: config.batchSize)

        for epoch in 0..<config.epochs {
            if let refresh {
                let count = trainSet.count
                refresh(epoch, &trainSet)
                precondition(trainSet.count == count, "a refresh keeps the number of items")
            }
            let order = BatchOrder(count: trainSet.count, batchSize: config.batchSize, seed: config.seed, epoch: epoch)
            var lossSum = 0.0, correct = 0, seen = 0
            var rate: Float = 0
            let epochStart = DispatchTime.now().uptimeNanoseconds
            for (step, indices) in order.enumerated() {
                let stepStart = DispatchTime.now().uptimeNanoseconds
                let labels = indices.map { trainSet.labels[$0] }
                let stepSeed = config.seed ^ (UInt64(epoch) << 32 | UInt64(step))
                if trainsOnTargetRows {
                    if let softTargets {
                        softTargets.softened(rows: indices, classes: classifier.classCount, into: targets)
                        LabelSmoothing.smooth(targets, epsilon: config.labelSmoothing)
                    } else {
                        LabelSmoothing.targets(labels: labels, classes: classifier.classCount, epsilon: config.labelSmoothing, into: targets)
                    }
                }
                batchPixels.withUnsafeMutableBufferPointer { pixels in
                    trainSet.images.withUnsafeBufferPointer { images in
                        for (row, index) in indices.enumerated() {
                            (pixels.baseAddress! + row * itemSize).update(from: images.baseAddress! + index * itemSize, count: itemSize)
                        }
                    }
                    config.augmentation.apply(to: pixels.baseAddress!, count: indices.count, shape: trainSet.itemShape, seed: stepSeed)
                    if config.mixing.isActive {
                        // Its own stream: the augmentation's draws stay those of a run without mixing.
                        config.mixing.apply(to: pixels.baseAddress!, targets: targets, count: indices.count, shape: trainSet.itemShape,
                                            seed: stepSeed ^ 0x4D49_5855_5043_5554)
                    }
                    classifier.normalize(pixels.baseAddress!, count: indices.count, into: input)
                }
                rate = schedule.rate(atEpoch: Double(epoch) + Double(step) / Double(order.batchCount), totalEpochs: config.epochs)
                network.store.zeroGradients()
                let logits = network.forward(input, training: true)
                logitGradient.reshape(logits.shape)
                logitGradient.fill(0)
                var loss: Float
                if trainsOnTargetRows {
                    let t = softTargets?.temperature ?? 1
                    loss = Loss.softCrossEntropy(logits: logits, targets: targets, temperature: t, gradient: logitGradient, scale: t * t)
                } else {
                    loss = Loss.crossEntropy(logits: logits, labels: labels, gradient: logitGradient)
                }
                network.backward(logitGradient)
                if let penalty { loss += penalty() }
                optimizer.step(network.store, learningRate: rate)

                lossSum += Double(loss) * Double(indices.count)
                correct += countCorrect(logits, labels)
                seen += indices.count
                imagesSeen += indices.count
                trainingNanoseconds += DispatchTime.now().uptimeNanoseconds - stepStart
                let speed = Double(imagesSeen) / (Double(trainingNanoseconds) / 1e9)
                let stepsDone = epoch * order.batchCount + step + 1
                progress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, step: step + 1, stepsPerEpoch: order.batchCount,
                                          loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen), learningRate: rate,
                                          imagesPerSecond: speed,
                                          secondsRemaining: Double(totalSteps - stepsDone) * Double(config.batchSize) / speed,
                                          testAccuracy: nil, epochFinished: false))
            }
            let epochSeconds = Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9
            let testAccuracy = testSet.map { Evaluation.accuracy(of: classifier, on: $0) }
            let summary = EpochSummary(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)),
                                       trainAccuracy: Double(correct) / Double(max(seen, 1)), testAccuracy: testAccuracy,
                                       learningRate: rate, seconds: epochSeconds, imagesPerSecond: Double(seen) / epochSeconds)
            summaries.append(summary)
            let speed = Double(imagesSeen) / (Double(trainingNanoseconds) / 1e9)
            progress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, step: order.batchCount, stepsPerEpoch: order.batchCount,
                                      loss: summary.trainLoss, accuracy: summary.trainAccuracy, learningRate: rate,
                                      imagesPerSecond: speed,
                                      secondsRemaining: Double(totalSteps - (epoch + 1) * order.batchCount) * Double(config.batchSize) / speed,
                                      testAccuracy: testAccuracy, epochFinished: true))
        }
        let seconds = Double(trainingNanoseconds) / 1e9
        return TrainingResult(epochs: summaries, imagesPerSecond: Double(imagesSeen) / max(seconds, 1e-9), trainingSeconds: seconds)
    }

    private func countCorrect(_ logits: Tensor, _ labels: [Int32]) -> Int {
        let classes = logits.itemCount
        var correct = 0
        for (n, label) in labels.enumerated() {
            let row = logits.data + n * classes
            var best = 0
            for k in 1..<classes where row[k] > row[best] { best = k }
            if best == Int(label) { correct += 1 }
        }
        return correct
    }
}
