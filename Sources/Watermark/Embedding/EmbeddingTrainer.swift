import Data
import Dispatch
import Engine
import Foundation
import Training

/// One finished embedding epoch.
public struct EmbeddingEpochSummary: Codable, Sendable {
    public var epoch: Int
    /// Mean loss per task over the epoch.
    public var losses: [String: Double]
    /// Mean task weights over the epoch (MGDA's choice, or the fixed ones).
    public var weights: [String: Double]
    public var testAccuracy: Double?
    public var wsr: Double?
    public var seconds: Double
}

public struct EmbeddingResult: Sendable {
    public var epochs: [EmbeddingEpochSummary]
    public var trainingSeconds: Double
}

/// Trains (from scratch or on from a checkpoint) a classifier that carries the spec's watermark.
///
/// Each step forwards one stacked batch — clean images, fresh watermark samples, fresh evasion
/// samples and the two source images of each watermark sample — and builds one logit gradient
/// per task. With fixed weights their weighted sum is back-propagated once. With MGDA, every
/// `interval` steps each task is back-propagated on its own (one extra backward pass per task,
/// the whole cost of MGDA), the min-norm weights are solved from the Gram matrix of those
/// gradients, and the step uses their weighted sum; the steps in between reuse the weights with a
/// single backward pass. Gradients are linear in the logit gradient for a fixed forward pass, so
/// both ways give the same update for the same weights.
public final class EmbeddingTrainer {
    public let classifier: Classifier
    public let configuration: EmbeddingConfiguration
    public let factory: TriggerFactory
    private let optimizer: Optimizer
    private let input = Tensor(shape: [0])
    private let sourceInput = Tensor(shape: [0])

    public init(classifier: Classifier, factory: TriggerFactory, configuration: EmbeddingConfiguration) {
        self.classifier = classifier
        self.factory = factory
        self.configuration = configuration
        optimizer = configuration.training.makeOptimizer()
    }

    private var activeTasks: [EmbeddingTask] {
        var tasks = EmbeddingTask.allCases.filter { configuration.tasks.contains($0) }
        if factory.spec.method == .contentTrigger { tasks.removeAll { $0 == .combination || $0 == .evasion } }
        return tasks
    }

    /// Embeds for `configuration.training.epochs` epochs; after each, measures test accuracy and the
    /// WSR on `verification` samples when given.
    public func embed(testSet: Dataset? = nil, verification: TriggerSamples? = nil,
                      progress: (TrainingProgress) -> Void = { _ in }) -> EmbeddingResult {
        let trainSet = factory.dataset, config = configuration.training
        precondition(trainSet.itemShape == classifier.card.inputShape, "data items do not fit the model")
        let tasks = activeTasks, network = classifier.network, size = trainSet.itemSize
        let clean = config.batchSize
        let marks = tasks.contains(.verification) || tasks.contains(.combination) ? configuration.watermarkPerBatch : 0
        let evasions = tasks.contains(.evasion) ? configuration.evasionPerBatch : 0
        let sources = tasks.contains(.combination) ? marks : 0
        // Row ranges of the stacked batch.
        let markRows = clean..<(clean + marks), evasionRows = markRows.upperBound..<(markRows.upperBound + evasions)
        let firstRows = evasionRows.upperBound..<(evasionRows.upperBound + sources)
        let secondRows = firstRows.upperBound..<(firstRows.upperBound + sources)
        let rows = secondRows.upperBound
        var pixels = [Float](repeating: 0, count: rows * size)
        let taskGradients = Dictionary(uniqueKeysWithValues: tasks.map { ($0, Tensor(shape: [rows, classifier.classCount])) })
        let combined = Tensor(shape: [rows, classifier.classCount])
        let sourceSide = Tensor(shape: [rows, classifier.classCount])
        var weights = initialWeights(tasks)
        var gradientVectors = [[Float]](repeating: [], count: tasks.count)
        var summaries: [EmbeddingEpochSummary] = []
        var nanoseconds: UInt64 = 0, imagesSeen = 0, globalStep = 0
        let stepsPerEpoch = BatchOrder.batchCount(items: trainSet.count, batchSize: clean)

        for epoch in 0..<config.epochs {
            let order = BatchOrder(count: trainSet.count, batchSize: clean, seed: config.seed, epoch: epoch)
            let epochStart = DispatchTime.now().uptimeNanoseconds
            var lossSums = [EmbeddingTask: Double](), weightSums = [EmbeddingTask: Double]()
            var correct = 0, seen = 0, rate: Float = 0
            for (step, indices) in order.enumerated() {
                let stepStart = DispatchTime.now().uptimeNanoseconds
                let stepSeed = config.seed &* 0x9E37_79B9 ^ UInt64(globalStep)
                let markSamples = factory.watermarkSamples(count: marks, seed: stepSeed)
                // Other-pair samples first; a data set with no other pair gets ordinary ones instead.
                let otherPairs = factory.otherPairEvasionSamples(count: Int((Double(evasions) * configuration.otherPairEvasion).rounded()),
                                                                 seed: stepSeed ^ 0x07E4)
                let evasionSamples = factory.evasionSamples(count: evasions - otherPairs.count, seed: stepSeed ^ 0xE7A5).appending(otherPairs)
                let batch = indices.count, labels = indices.map { trainSet.labels[$0] }
                // A short last batch moves the extra rows up so the stack stays contiguous.
                let shift = clean - batch
                let shifted = { (range: Range<Int>) in (range.lowerBound - shift)..<(range.upperBound - shift) }
                pixels.withUnsafeMutableBufferPointer { buffer in
                    let p = buffer.baseAddress!
                    trainSet.images.withUnsafeBufferPointer { images in
                        for (row, index) in indices.enumerated() {
                            (p + row * size).update(from: images.baseAddress! + index * size, count: size)
                        }
                    }
                    config.augmentation.apply(to: p, count: batch, shape: trainSet.itemShape,
                                              seed: config.seed ^ (UInt64(epoch) << 32 | UInt64(step)))
                    copy(markSamples.images, to: p + shifted(markRows).lowerBound * size)
                    copy(evasionSamples.images, to: p + shifted(evasionRows).lowerBound * size)
                    if sources > 0 {
                        copy(markSamples.firstSources, to: p + shifted(firstRows).lowerBound * size)
                        copy(markSamples.secondSources, to: p + shifted(secondRows).lowerBound * size)
                    }
                    classifier.normalize(p, count: rows - shift, into: input)
                }
                rate = config.effectiveSchedule.rate(atEpoch: Double(epoch) + Double(step) / Double(order.batchCount),
                                                     totalEpochs: config.epochs)
                network.store.zeroGradients()
                // The pull is gated on what the model answers in evaluation mode, which is what a
                // thief sees (batch statistics make training-mode answers differ).
                let sourceRows = shifted(firstRows).lowerBound..<shifted(secondRows).upperBound
                let pullGate = configuration.sourcePull > 0 && sources > 0 ? sourceTargetProbabilities(input, rows: sourceRows) : []
                let logits = network.forward(input, training: true)
                var losses = [EmbeddingTask: Float]()
                for task in tasks {
                    let g = taskGradients[task]!
                    g.reshape(logits.shape)
                    g.fill(0)
                    switch task {
                    case .utility:
                        losses[task] = Loss.crossEntropy(logits: logits, labels: labels, rows: 0..<batch, gradient: g)
                    case .verification:
                        losses[task] = Loss.crossEntropy(logits: logits, labels: markSamples.labels, rows: shifted(markRows), gradient: g)
                    case .evasion:
                        losses[task] = Loss.crossEntropy(logits: logits, labels: evasionSamples.labels, rows: shifted(evasionRows), gradient: g)
                    case .combination:
                        let pull = configuration.sourcePull
                        sourceSide.reshape(logits.shape)
                        sourceSide.fill(0)
                        losses[task] = Loss.klDivergence(p: logits, pRows: shifted(markRows), q: logits, qRows: shifted(firstRows),
                                                         gradientP: g, gradientQ: pull > 0 ? sourceSide : nil, scaleQ: pull)
                            + Loss.klDivergence(p: logits, pRows: shifted(markRows), q: logits, qRows: shifted(secondRows),
                                                gradientP: g, gradientQ: pull > 0 ? sourceSide : nil, scaleQ: pull)
                        if pull > 0 { addSourcePull(sourceSide, gate: pullGate, into: g, rows: sourceRows) }
                    }
                }
                if case .mgda(let interval, let normalization, let groups, let floor) = configuration.weighting, globalStep % interval == 0 {
                    weights = solveMGDA(tasks: tasks, gradients: taskGradients, losses: losses, vectors: &gradientVectors,
                                        normalization: normalization, groups: groups, utilityFloor: floor)
                    // The step's gradient is the weighted sum of the task gradients just computed.
                    var sum = [Float](repeating: 0, count: network.store.count)
                    for (k, task) in tasks.enumerated() {
                        let w = Float(weights[task]!)
                        for i in 0..<sum.count { sum[i] += w * gradientVectors[k][i] }
                    }
                    network.store.setGradients(sum)
                } else {
                    combined.reshape(logits.shape)
                    combined.fill(0)
                    for task in tasks {
                        let w = Float(weights[task]!), g = taskGradients[task]!
                        for i in 0..<combined.count { combined.data[i] += w * g.data[i] }
                    }
                    network.store.zeroGradients()
                    network.backward(combined)
                }
                optimizer.step(network.store, learningRate: rate)

                for task in tasks {
                    lossSums[task, default: 0] += Double(losses[task]!)
                    weightSums[task, default: 0] += weights[task]!
                }
                correct += zip(0..<batch, labels).filter { argmax(UnsafeBufferPointer(start: logits.data + $0 * logits.itemCount, count: logits.itemCount)) == Int($1) }.count
                seen += batch
                imagesSeen += rows - shift
                globalStep += 1
                nanoseconds += DispatchTime.now().uptimeNanoseconds - stepStart
                let speed = Double(imagesSeen) / (Double(nanoseconds) / 1e9)
                let stepsLeft = (config.epochs - epoch) * stepsPerEpoch - step - 1
                progress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, step: step + 1, stepsPerEpoch: order.batchCount,
                                          loss: lossSums.values.reduce(0, +) / Double(step + 1), accuracy: Double(correct) / Double(seen),
                                          learningRate: rate, imagesPerSecond: speed,
                                          secondsRemaining: Double(stepsLeft) * Double(rows) / speed, testAccuracy: nil, epochFinished: false))
            }
            let steps = Double(order.batchCount)
            let testAccuracy = testSet.map { Evaluation.accuracy(of: classifier, on: $0) }
            let wsr = verification.map { WatermarkEvaluation.hitRate(of: classifier, on: $0, label: factory.spec.targetLabel) }
            summaries.append(EmbeddingEpochSummary(
                epoch: epoch + 1,
                losses: Dictionary(uniqueKeysWithValues: tasks.map { ($0.rawValue, lossSums[$0, default: 0] / steps) }),
                weights: Dictionary(uniqueKeysWithValues: tasks.map { ($0.rawValue, weightSums[$0, default: 0] / steps) }),
                testAccuracy: testAccuracy, wsr: wsr,
                seconds: Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9))
            let speed = Double(imagesSeen) / (Double(nanoseconds) / 1e9)
            progress(TrainingProgress(epoch: epoch + 1, epochs: config.epochs, step: order.batchCount, stepsPerEpoch: order.batchCount,
                                      loss: lossSums.values.reduce(0, +) / steps, accuracy: Double(correct) / Double(max(seen, 1)),
                                      learningRate: rate, imagesPerSecond: speed,
                                      secondsRemaining: Double((config.epochs - epoch - 1) * stepsPerEpoch * rows) / speed,
                                      testAccuracy: testAccuracy, epochFinished: true))
        }
        return EmbeddingResult(epochs: summaries, trainingSeconds: Double(nanoseconds) / 1e9)
    }

    /// P(target) in evaluation mode for `rows` of the stacked, normalised batch.
    private func sourceTargetProbabilities(_ input: Tensor, rows: Range<Int>) -> [Float] {
        let size = classifier.itemSize, classes = classifier.classCount
        sourceInput.reshape([rows.count] + classifier.card.inputShape)
        sourceInput.data.update(from: input.data + rows.lowerBound * size, count: rows.count * size)
        let probabilities = Loss.probabilities(classifier.network.forward(sourceInput, training: false))
        return (0..<rows.count).map { probabilities.data[$0 * classes + factory.spec.targetLabel] }
    }

    /// Adds the KL's gradient on the source rows, except where the source already gives the target
    /// `sourcePullCap` probability: a thief distilling at a high temperature sees even a few per
    /// cent of target on clean source images, and more than that costs main-task accuracy.
    private func addSourcePull(_ sourceSide: Tensor, gate: [Float], into g: Tensor, rows: Range<Int>) {
        let classes = sourceSide.itemCount
        for (i, n) in rows.enumerated() where gate[i] < configuration.sourcePullCap {
            for k in 0..<classes { g.data[n * classes + k] += sourceSide.data[n * classes + k] }
        }
    }

    private func initialWeights(_ tasks: [EmbeddingTask]) -> [EmbeddingTask: Double] {
        if case .fixed(let fixed) = configuration.weighting {
            return Dictionary(uniqueKeysWithValues: tasks.map { ($0, fixed[$0] ?? 0) })
        }
        return Dictionary(uniqueKeysWithValues: tasks.map { ($0, 1 / Double(tasks.count)) })
    }

    /// Back-propagates each task (or group) alone, solves the min-norm weights α on the normalised
    /// gradients, and returns α as the weights of the raw task losses (as Sener & Koltun's released
    /// code does). Dividing α by the norms instead would hand the largest weight to the task with
    /// the smallest gradient, and the main task, whose gradient is largest, would starve.
    private func solveMGDA(tasks: [EmbeddingTask], gradients: [EmbeddingTask: Tensor], losses: [EmbeddingTask: Float],
                           vectors: inout [[Float]], normalization: GradientNormalization,
                           groups: MGDAGroups, utilityFloor: Double) -> [EmbeddingTask: Double] {
        let network = classifier.network
        for (k, task) in tasks.enumerated() {
            network.store.zeroGradients()
            network.backward(gradients[task]!)
            network.store.copyGradients(into: &vectors[k])
        }
        // Members of each balanced unit (one per task, or the two groups).
        var units: [[Int]] = tasks.indices.map { [$0] }
        if groups == .twoGroups, let combination = tasks.firstIndex(of: .combination), tasks.count > 1 {
            units = [tasks.indices.filter { $0 != combination }, [combination]]
        }
        let unitVectors: [[Float]] = units.map { members in
            members.count == 1 ? vectors[members[0]]
                : members.dropFirst().reduce(vectors[members[0]]) { sum, k in zip(sum, vectors[k]).map { $0 + $1 } }
        }
        let scales: [Double] = units.indices.map { u in
            switch normalization {
            case .none: return 1
            case .l2: return Swift.max(dot(unitVectors[u], unitVectors[u]).squareRoot(), 1e-12)
            case .loss: return Swift.max(units[u].reduce(0) { $0 + Double(losses[tasks[$1]]!) }, 1e-12)
            }
        }
        let gram = units.indices.map { a in units.indices.map { b in dot(unitVectors[a], unitVectors[b]) / (scales[a] * scales[b]) } }
        let utilityUnit = tasks.firstIndex(of: .utility).flatMap { k in units.firstIndex { $0.contains(k) } }
        let alpha = MinNormSolver.frankWolfe(gram, floor: utilityUnit.flatMap { utilityFloor > 0 ? ($0, utilityFloor) : nil })
        var result = [EmbeddingTask: Double]()
        for (u, members) in units.enumerated() { for k in members { result[tasks[k]] = alpha[u] } }
        return result
    }
}

private func copy(_ values: [Float], to destination: UnsafeMutablePointer<Float>) {
    guard !values.isEmpty else { return }
    values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
}

func dot(_ a: [Float], _ b: [Float]) -> Double {
    var sum: Double = 0
    a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in
            var partial: Float = 0
            for i in 0..<x.count {
                partial += x[i] * y[i]
                if i & 1023 == 1023 { sum += Double(partial); partial = 0 }
            }
            sum += Double(partial)
        }
    }
    return sum
}
