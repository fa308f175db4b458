import Engine

/// Moves images along the sign of an input gradient, x + step·sign(∂f/∂x), clipped to [0, 1]
/// pixels: with f the logit of each image's label it is Papernot et al.'s Jacobian-based
/// augmentation; with f the cross-entropy of the label it is one FGSM step (Goodfellow et al.,
/// ICLR 2015), and repeated with a projection, PGD (Madry et al., ICLR 2018).
public enum SignedGradientStep {
    enum Objective { case logit, loss }

    /// `images`: raw pixels, items of the classifier's input shape end to end, one label each.
    /// Evaluation mode (running BatchNorm statistics, no dropout); parameter gradients are left zero.
    static func apply(_ classifier: Classifier, images: [Float], labels: [Int32], objective: Objective, step: Float) -> [Float] {
        let network = classifier.network, size = classifier.itemSize, classes = classifier.classCount
        precondition(images.count == labels.count * size, "one label per image")
        network.computesInputGradient = true
        defer { network.computesInputGradient = false }
        var stepped = [Float](repeating: 0, count: images.count)
        let input = Tensor(shape: [0]), logitGradient = Tensor(shape: [0])
        let batchSize = 256
        images.withUnsafeBufferPointer { x in
            var start = 0
            while start < labels.count {
                let count = Swift.min(batchSize, labels.count - start)
                classifier.normalize(x.baseAddress! + start * size, count: count, into: input)
                let logits = network.forward(input, training: false)
                logitGradient.reshape(logits.shape)
                logitGradient.fill(0)
                let batchLabels = Array(labels[start..<(start + count)])
                switch objective {
                case .logit: for n in 0..<count { logitGradient.data[n * classes + Int(batchLabels[n])] = 1 }
                case .loss: _ = Loss.crossEntropy(logits: logits, labels: batchLabels, gradient: logitGradient)
                }
                network.store.zeroGradients()
                let inputGradient = network.backward(logitGradient)
                // Normalisation divides by a positive std, so the sign is the raw pixels' sign too.
                for i in 0..<(count * size) {
                    let g = inputGradient.data[i]
                    stepped[start * size + i] = Swift.min(Swift.max(x[start * size + i] + step * (g > 0 ? 1 : g < 0 ? -1 : 0), 0), 1)
                }
                start += count
            }
        }
        network.store.zeroGradients()
        return stepped
    }

    /// Targeted PGD inside the L∞ ball of radius `epsilon` around `images`: `steps` descent steps
    /// on the cross-entropy of each image's target, from the images themselves.
    public static func targeted(_ classifier: Classifier, images: [Float], targets: [Int32], epsilon: Float, steps: Int) -> [Float] {
        projected(classifier, images: images, from: images, labels: targets, epsilon: epsilon, steps: steps, ascent: false)
    }

    /// PGD inside the L∞ ball of radius `epsilon` around `images`: a uniform random start, then
    /// `steps` loss-ascent steps on each image's label.
    static func projectedGradientDescent(_ classifier: Classifier, images: [Float], labels: [Int32], epsilon: Float, steps: Int,
                                         seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        let start = images.map { Swift.min(Swift.max($0 + rng.nextUniform(-epsilon, epsilon), 0), 1) }
        return projected(classifier, images: images, from: start, labels: labels, epsilon: epsilon, steps: steps, ascent: true)
    }

    /// `steps` signed steps of 2.5·ε/steps on the loss of `labels` (up it or down it) from `start`,
    /// each projected back into the L∞ ball of radius `epsilon` around `images` and [0, 1].
    private static func projected(_ classifier: Classifier, images: [Float], from start: [Float], labels: [Int32], epsilon: Float, steps: Int,
                                  ascent: Bool) -> [Float] {
        var adversarial = start
        let step = 2.5 * epsilon / Float(Swift.max(steps, 1))
        for _ in 0..<steps {
            adversarial = apply(classifier, images: adversarial, labels: labels, objective: .loss, step: ascent ? step : -step)
            for i in adversarial.indices {
                adversarial[i] = Swift.min(Swift.max(adversarial[i], images[i] - epsilon), images[i] + epsilon)
            }
        }
        return adversarial
    }
}
