import Data
import Dispatch
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
    /// Mean loss and weight per task, for objectives that balance several.
    public var losses: [String: Double]?
    public var weights: [String: Double]?
    /// The watermark success rate measured after the epoch (embedding).
    public var wsr: Double?
}

public struct TrainingResult: Sendable {
    public var epochs: [EpochSummary]
    /// Training images per second over all epochs, evaluation excluded.
    public var imagesPerSecond: Double
    public var trainingSeconds: Double
}

/// The training loop: epochs of seeded batch orders, each batch gathered and augmented, handed to
/// the objective for its gradient, and stepped by the optimizer (kept across calls, so momentum
/// carries over between rounds of one thief).
public final class Trainer {
    public let classifier: Classifier
    public let configuration: TrainingConfiguration
    private let optimizer: Optimizer

    public init(classifier: Classifier, configuration: TrainingConfiguration) {
        self.classifier = classifier
        self.configuration = configuration
        optimizer = configuration.makeOptimizer()
    }

    /// Trains with the supervised objective (cross-entropy, or soft cross-entropy against
    /// `softTargets`; the data set's labels then only count towards the reported training accuracy).
    public func train(on trainSet: Dataset, testSet: Dataset? = nil, softTargets: SoftTargets? = nil,
                      penalty: (() -> Float)? = nil, refresh: ((_ epoch: Int, _ set: inout Dataset) -> Void)? = nil,
                      progress: (TrainingProgress) -> Void = { _ in }) -> TrainingResult {
        if let softTargets {
            precondition(softTargets.probabilities.count == trainSet.count * classifier.classCount, "one target row per training item")
        }
        let objective = SupervisedObjective(configuration: configuration, softTargets: softTargets, penalty: penalty)
        return train(on: trainSet, objective: objective, testSet: testSet, refresh: refresh, progress: progress)
    }

    /// Trains `objective` for `configuration.epochs` epochs, evaluating on `testSet` after each when
    /// given. `refresh` may rewrite the set's items at the start of every epoch (examples made
    /// against the current model); it keeps their count. `afterEpoch` sees each epoch's summary
    /// before progress reports it, and may add what it measures.
    public func train(on trainSet: Dataset, objective: TrainingObjective, testSet: Dataset? = nil,
                      refresh: ((_ epoch: Int, _ set: inout Dataset) -> Void)? = nil,
                      afterEpoch: ((inout EpochSummary) -> Void)? = nil,
                      progress: (TrainingProgress) -> Void = { _ in }) -> TrainingResult {
        precondition(trainSet.itemShape == classifier.card.inputShape, "data items \(trainSet.itemShape) do not fit the model's \(classifier.card.inputShape)")
        let config = configuration
        var trainSet = trainSet
        let itemSize = trainSet.itemSize, schedule = config.effectiveSchedule
        var batchPixels = [Float](repeating: 0, count: config.batchSize * itemSize)
        var summaries: [EpochSummary] = []
        var trainingNanoseconds: UInt64 = 0
        var imagesSeen = 0, globalStep = 0
        let totalSteps = config.epochs * BatchOrder.batchCount(items: trainSet.count, batchSize: config.batchSize)
        let secondsRemaining = { (stepsDone: Int) in
            Double(totalSteps - stepsDone) * Double(trainingNanoseconds) / 1e9 / Double(max(stepsDone, 1))
        }

        for epoch in 0..<config.epochs {
            if let refresh {
                let count = trainSet.count
                refresh(epoch, &trainSet)
                precondition(trainSet.count == count, "a refresh keeps the number of items")
            }
            let order = BatchOrder(count: trainSet.count, batchSize: config.batchSize, seed: config.seed, epoch: epoch)
            var lossSum = 0.0, correct = 0, seen = 0
            var taskLossSums: [String: Double] = [:], taskWeightSums: [String: Double] = [:]
            var rate: Float = 0
            let epochStart = DispatchTime.now().uptimeNanoseconds
            for (step, indices) in order.enumerated() {
                let stepStart = DispatchTime.now().uptimeNanoseconds
                let stepSeed = config.seed ^ (UInt64(epoch) << 32 | UInt64(step))
                rate = schedule.rate(atEpoch: Double(epoch) + Double(step) / Double(order.batchCount), totalEpochs: config.epochs)
                let outcome = batchPixels.withUnsafeMutableBufferPointer { pixels in
                    trainSet.images.withUnsafeBufferPointer { images in
                        for (row, index) in indices.enumerated() {
                            (pixels.baseAddress! + row * itemSize).update(from: images.baseAddress! + index * itemSize, count: itemSize)
                        }
                    }
                    config.augmentation.apply(to: pixels.baseAddress!, count: indices.count, shape: trainSet.itemShape, seed: stepSeed)
                    classifier.network.store.zeroGradients()
                    let batch = TrainingBatch(epoch: epoch, step: step, globalStep: globalStep, indices: indices,
                                              labels: indices.map { trainSet.labels[$0] }, pixels: pixels.baseAddress!, seed: stepSeed,
                                              learningRate: rate)
                    return objective.backward(batch, classifier: classifier)
                }
                optimizer.step(classifier.network.store, learningRate: rate)

                lossSum += Double(outcome.loss) * Double(indices.count)
                for (task, loss) in outcome.taskLosses { taskLossSums[task, default: 0] += Double(loss) }
                for (task, weight) in outcome.taskWeights { taskWeightSums[task, default: 0] += weight }
                correct += outcome.correct
                seen += indices.count
                imagesSeen += outcome.images
                globalStep += 1
                trainingNanoseconds += DispatchTime.now().uptimeNanoseconds - stepStart
                progress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, step: step + 1, stepsPerEpoch: order.batchCount,
                                          loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen), learningRate: rate,
                                          imagesPerSecond: Double(imagesSeen) / (Double(trainingNanoseconds) / 1e9),
                                          secondsRemaining: secondsRemaining(globalStep), testAccuracy: nil, epochFinished: false))
            }
            let epochSeconds = Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9
            let steps = Double(order.batchCount)
            var summary = EpochSummary(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)),
                                       trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                       testAccuracy: testSet.map { Evaluation.accuracy(of: classifier, on: $0) },
                                       learningRate: rate, seconds: epochSeconds, imagesPerSecond: Double(seen) / epochSeconds,
                                       losses: taskLossSums.isEmpty ? nil : taskLossSums.mapValues { $0 / steps },
                                       weights: taskWeightSums.isEmpty ? nil : taskWeightSums.mapValues { $0 / steps })
            afterEpoch?(&summary)
            summaries.append(summary)
            progress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, step: order.batchCount, stepsPerEpoch: order.batchCount,
                                      loss: summary.trainLoss, accuracy: summary.trainAccuracy, learningRate: rate,
                                      imagesPerSecond: Double(imagesSeen) / (Double(trainingNanoseconds) / 1e9),
                                      secondsRemaining: secondsRemaining(globalStep), testAccuracy: summary.testAccuracy, epochFinished: true))
        }
        let seconds = Double(trainingNanoseconds) / 1e9
        return TrainingResult(epochs: summaries, imagesPerSecond: Double(imagesSeen) / max(seconds, 1e-9), trainingSeconds: seconds)
    }
}
