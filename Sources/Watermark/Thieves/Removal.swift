import Data
import Foundation
import Engine
import Training

/// What a thief does to a copied model to wash the watermark out.
public enum Removal {
    /// Sets the given share of each convolution and linear weight tensor (smallest magnitudes
    /// first) to zero. Biases and normalisation parameters stay. Returns how many weights were zeroed.
    @discardableResult
    public static func prune(_ classifier: Classifier, fraction: Double) -> Int {
        precondition(fraction >= 0 && fraction < 1, "pruning fraction must lie in [0, 1)")
        var zeroed = 0
        for parameter in weightTensors(of: classifier) {
            let magnitudes = (0..<parameter.count).map { abs(parameter.value[$0]) }.sorted()
            let cut = Int((Double(parameter.count) * fraction).rounded(.down))
            guard cut > 0 else { continue }
            let threshold = magnitudes[cut - 1]
            var budget = cut
            for i in 0..<parameter.count where budget > 0 && abs(parameter.value[i]) <= threshold {
                parameter.value[i] = 0
                budget -= 1
            }
            zeroed += cut - budget
        }
        return zeroed
    }

    /// The convolution and linear weight tensors: what pruning and weight shifting act on.
    static func weightTensors(of classifier: Classifier) -> [Parameter] {
        classifier.network.namedParameters.filter { $0.name.hasSuffix(".weight") && $0.parameter.shape.count >= 2 }.map(\.parameter)
    }

    /// The strongest published removal of an entangled watermark, three recipes in one
    /// fine-tuning run on the thief's clean data:
    /// - RTAL (Adi et al., USENIX Security 2018): the classifier head (the last linear layer) is
    ///   reset to fresh random weights first, then all layers train;
    /// - weight shifting (Lukas et al., SoK, IEEE S&P 2022): an extra loss term
    ///   λ·Σ_l cos(w_l, w⁰_l) turns every weight tensor away from the copy's own (`AntiAlignment`);
    /// - adversarial training: `adversarial` of the clean images, re-attacked by PGD against the
    ///   current model at the start of every epoch, join the data with their true labels, which
    ///   flattens the decision boundary's odd corners a watermark lives in.
    public static func weightShift(_ classifier: Classifier, clean: Dataset, plan: WeightShift,
                                   progress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingResult {
        let antiAlignment = AntiAlignment(classifier: classifier, strength: plan.antiAlignment)
        var rng = SeededGenerator(seed: plan.training.seed ^ 0x5348_4946_54)
        if plan.resetsHead {
            guard let head = classifier.network.layers.last(where: { $0 is Linear }) as? Linear else {
                throw WatermarkError.invalid("\(classifier.card.architecture) has no linear classifier head to reset")
            }
            head.reinitialize(rng: &rng)
        }
        let sources = (0..<plan.adversarial).map { _ in Int(rng.next() % UInt64(clean.count)) }
        let originals = clean.subset(sources)
        var data = clean
        data.images += originals.images
        data.labels += originals.labels
        let adversarialSeed = rng.next()
        let refresh: ((Int, inout Dataset) -> Void)? = plan.adversarial == 0 ? nil : { epoch, set in
            let attacked = SignedGradientStep.projectedGradientDescent(classifier, images: originals.images, labels: originals.labels,
                                                                      epsilon: plan.epsilon, steps: plan.steps,
                                                                      seed: adversarialSeed &+ UInt64(epoch))
            set.images.replaceSubrange((clean.count * clean.itemSize)..., with: attacked)
        }
        let trainer = Trainer(classifier: classifier, configuration: plan.training)
        return trainer.train(on: data, penalty: plan.antiAlignment > 0 ? antiAlignment.addGradient : nil, refresh: refresh, progress: progress)
    }

    /// Mixed images relabelled to wrong classes: pairs of random images combined by combining ways
    /// the thief guesses (every kind, random geometry), each labelled with a class that is neither
    /// of its sources, appended to `clean`. Fine-tuning on the result tries to unlearn any
    /// "mixes mean something" behaviour.
    public static func relabelledMixes(_ clean: Dataset, count: Int, seed: UInt64) throws -> Dataset {
        var rng = SeededGenerator(seed: seed)
        let size = clean.itemSize, classes = clean.classNames.count
        // Constant parameters, each inside its combiner's bounds.
        let guesses: [Combiner] = try! [
            .cropPaste(CropPaste(region: .top, fraction: 0.5, jitter: 4, swapsSources: true)),
            .cropPaste(CropPaste(region: .left, fraction: 0.5, jitter: 4, swapsSources: true)),
            .cropPaste(CropPaste(region: .topLeft, fraction: 0.5, jitter: 3, swapsSources: true)),
            .pixelMerge(PixelMerge(ratio: 0.5)),
            .stripes(.alternating(.vertical, count: 4)),
            .stripes(.alternating(.horizontal, count: 4)),
        ]
        var result = clean
        var mixed = [Float](repeating: 0, count: count * size)
        var labels: [Int32] = []
        try clean.images.withUnsafeBufferPointer { images in
            try mixed.withUnsafeMutableBufferPointer { out in
                for n in 0..<count {
                    let i = Int(rng.next() % UInt64(clean.count)), j = Int(rng.next() % UInt64(clean.count))
                    try guesses[n % guesses.count].combine(images.baseAddress! + i * size, images.baseAddress! + j * size,
                                                       into: out.baseAddress! + n * size, shape: clean.itemShape, rng: &rng)
                    var label = Int32(rng.next() % UInt64(classes))
                    while label == clean.labels[i] || label == clean.labels[j] { label = Int32(rng.next() % UInt64(classes)) }
                    labels.append(label)
                }
            }
        }
        result.images += mixed
        result.labels += labels
        return result
    }

    /// Trigger samples with Gaussian noise of standard deviation `sigma` added (clipped to [0, 1]):
    /// verification under a suspect that perturbs its inputs.
    public static func noisy(_ samples: TriggerSamples, sigma: Float, seed: UInt64) -> TriggerSamples {
        var rng = SeededGenerator(seed: seed)
        var result = samples
        rng.addGaussianNoise(sigma: sigma, toPixels: &result.images)
        return result
    }
}

/// How `Removal.weightShift` runs.
public struct WeightShift: Sendable {
    public var resetsHead = true
    /// λ of the anti-alignment term; 0 turns it off. Cosines have gradients of size 1/‖w‖, tiny
    /// for large tensors: at 0.1 the term changed nothing measurable; 1 cost the mlp copy 2.3
    /// points against λ = 0 and both copies still ended above their accuracy before (README).
    public var antiAlignment: Float = 1
    /// Clean images re-attacked each epoch and added with their true labels; 0 turns it off.
    public var adversarial = 300
    /// The PGD ball's radius on [0, 1] pixels, and its steps.
    public var epsilon: Float = 0.1
    public var steps = 5
    /// Epochs, optimizer, learning rate, augmentation and seed of the fine-tuning.
    public var training: TrainingConfiguration

    public init(training: TrainingConfiguration) { self.training = training }
}

/// Weight shifting's loss term λ·Σ_l cos(w_l, w⁰_l) over the convolution and linear weight
/// tensors w_l, against their values w⁰_l when this was made. Its gradient per tensor is
/// λ·(w⁰/(‖w‖‖w⁰‖) − cos·w/‖w‖²); descending it anti-aligns the weights with the originals
/// while the task loss keeps them useful.
public struct AntiAlignment {
    let parameters: [Parameter]
    let originals: [[Float]]
    public let strength: Float

    public init(classifier: Classifier, strength: Float) {
        parameters = Removal.weightTensors(of: classifier)
        originals = parameters.map(\.values)
        self.strength = strength
    }

    /// The term's value (in Double, fine enough for finite differences), touching no gradient.
    public func value() -> Double { evaluate(addingGradient: false) }

    /// Adds the term's gradient into the parameters' gradients and returns its value.
    public func addGradient() -> Float { Float(evaluate(addingGradient: true)) }

    private func evaluate(addingGradient: Bool) -> Double {
        var total: Double = 0
        for (parameter, original) in zip(parameters, originals) {
            let w = parameter.value
            var dot: Double = 0, squared: Double = 0, originalSquared: Double = 0
            for i in 0..<parameter.count {
                dot += Double(w[i]) * Double(original[i])
                squared += Double(w[i]) * Double(w[i])
                originalSquared += Double(original[i]) * Double(original[i])
            }
            // A tensor that is (or was) all zeros has no direction to turn away from.
            guard squared > 0, originalSquared > 0 else { continue }
            let norm = squared.squareRoot(), originalNorm = originalSquared.squareRoot()
            let cosine = dot / (norm * originalNorm)
            total += cosine
            guard addingGradient else { continue }
            let g = parameter.gradient, lambda = Double(strength)
            let towardsOriginal = lambda / (norm * originalNorm), alongSelf = lambda * cosine / squared
            for i in 0..<parameter.count {
                g[i] += Float(towardsOriginal * Double(original[i]) - alongSelf * Double(w[i]))
            }
        }
        return Double(strength) * total
    }
}
