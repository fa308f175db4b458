import Engine

/// The four losses of MEA-Defender's embedding (and the rehearsal's) on one stacked forward pass,
/// each into its own logit gradient, so the weighting can balance them.
final class EmbeddingLosses {
    let configuration: EmbeddingConfiguration
    /// The student the rehearsal task distils, when that task is on.
    let rehearsal: Rehearsal?
    let targetLabel: Int
    /// The classes of the first and the second source images.
    let sourceLabels: [Int32]
    let tasks: [EmbeddingTask]
    /// Each task's logit gradient, over every row of the stack.
    let gradients: [EmbeddingTask: Tensor]
    private let sourceSide = Tensor(shape: [0])
    private let sourceInput = Tensor(shape: [0])

    init(tasks: [EmbeddingTask], configuration: EmbeddingConfiguration, spec: WatermarkSpec, rehearsal: Rehearsal? = nil) {
        precondition(tasks.contains(.rehearsal) == (rehearsal != nil), "the rehearsal task needs its student")
        self.configuration = configuration
        self.rehearsal = rehearsal
        targetLabel = spec.targetLabel
        sourceLabels = spec.sourceLabels.map(Int32.init)
        self.tasks = tasks
        gradients = Dictionary(uniqueKeysWithValues: tasks.map { ($0, Tensor(shape: [0])) })
    }

    /// P(target) in evaluation mode on the stack's source rows of the normalised `input`, taken
    /// before the training forward pass. The source pull is gated on it: evaluation-mode answers
    /// are what a thief sees (batch statistics make training-mode answers differ).
    func sourceTargetProbabilities(_ classifier: Classifier, input: Tensor, stack: EmbeddingStack) -> [Float] {
        guard configuration.sourcePull > 0, !stack.sources.isEmpty else { return [] }
        let rows = stack.sources, size = classifier.itemSize, classes = classifier.classCount
        sourceInput.reshape([rows.count] + classifier.card.inputShape)
        sourceInput.data.update(from: input.data + rows.lowerBound * size, count: rows.count * size)
        let probabilities = Loss.probabilities(classifier.network.forward(sourceInput, training: false))
        return (0..<rows.count).map { probabilities.data[$0 * classes + targetLabel] }
    }

    /// Every task's loss on `logits`, its gradient left in `gradients`. The rehearsal's student
    /// reads the stack's raw `pixels` and steps at `learningRate`.
    func evaluate(_ logits: Tensor, stack: EmbeddingStack, labels: [Int32], pullGate: [Float],
                  pixels: UnsafePointer<Float>, learningRate: Float) -> [EmbeddingTask: Float] {
        var losses = [EmbeddingTask: Float]()
        for task in tasks {
            let g = gradients[task]!
            g.reshape(logits.shape)
            g.fill(0)
            switch task {
            case .utility:
                losses[task] = utility(logits, stack: stack, labels: labels, gradient: g)
            case .verification:
                losses[task] = Loss.crossEntropy(logits: logits, labels: stack.markLabels, rows: stack.marks, gradient: g)
                    + (configuration.coupling > 0 ? coupling(logits, stack: stack, labels: labels, gradient: g, scale: configuration.coupling) : 0)
            case .evasion:
                losses[task] = Loss.crossEntropy(logits: logits, labels: stack.evasionLabels, rows: stack.evasions, gradient: g)
            case .combination:
                losses[task] = combination(logits, stack: stack, pullGate: pullGate, gradient: g)
            case .rehearsal:
                losses[task] = rehearsal!.step(victimLogits: logits, clean: stack.clean, marks: stack.marks, markLabels: stack.markLabels,
                                               pixels: pixels, learningRate: learningRate, gradient: g)
            }
        }
        return losses
    }

    /// Cross-entropy on the clean images; with `anchorSources`, also on the stack's source images
    /// with their true labels, one mean over all of them. The combination loss (and its pull)
    /// otherwise reaches the source classes' outputs with nothing there to hold them, and clean
    /// sources drift towards the target (mean target probability 32–40 % on them, up to 28 points
    /// of their accuracy lost, in embeddings without it).
    private func utility(_ logits: Tensor, stack: EmbeddingStack, labels: [Int32], gradient g: Tensor) -> Float {
        guard configuration.anchorSources, !stack.sources.isEmpty else {
            return Loss.crossEntropy(logits: logits, labels: labels, rows: stack.clean, gradient: g)
        }
        let total = Float(stack.clean.count + stack.sources.count)
        let share = { (rows: Range<Int>) in Float(rows.count) / total }
        return Loss.crossEntropy(logits: logits, labels: labels, rows: stack.clean, gradient: g, scale: share(stack.clean))
            + Loss.crossEntropy(logits: logits, labels: Array(repeating: sourceLabels[0], count: stack.firstSources.count),
                                rows: stack.firstSources, gradient: g, scale: share(stack.firstSources))
            + Loss.crossEntropy(logits: logits, labels: Array(repeating: sourceLabels[1], count: stack.secondSources.count),
                                rows: stack.secondSources, gradient: g, scale: share(stack.secondSources))
    }

    /// DeepTracer's coupling in logit space, times `scale`: for each watermark sample,
    /// (1 − cos(z, μ_target)) + the mean over the other classes c of max(0, cos(z, μ_c)), where μ_c
    /// is the mean direction of the batch's clean logits of class c (held constant). The
    /// watermark then sits inside the target class's cluster rather than beside it, which is what
    /// lets a copy trained on the target's clean images inherit it.
    func coupling(_ logits: Tensor, stack: EmbeddingStack, labels: [Int32], gradient g: Tensor, scale: Float) -> Float {
        let classes = logits.itemCount
        var centroids = [Float](repeating: 0, count: classes * classes), counts = [Int](repeating: 0, count: classes)
        for (i, n) in stack.clean.enumerated() {
            let label = Int(labels[i]), row = logits.data + n * classes
            let norm = max((0..<classes).reduce(Float(0)) { $0 + row[$1] * row[$1] }.squareRoot(), 1e-12)
            for k in 0..<classes { centroids[label * classes + k] += row[k] / norm }
            counts[label] += 1
        }
        for c in 0..<classes where counts[c] > 0 {
            let norm = max((0..<classes).reduce(Float(0)) { $0 + centroids[c * classes + $1] * centroids[c * classes + $1] }.squareRoot(), 1e-12)
            for k in 0..<classes { centroids[c * classes + k] /= norm }
        }
        let others = (0..<classes).filter { $0 != targetLabel && counts[$0] > 0 }
        guard counts[targetLabel] > 0, !stack.marks.isEmpty else { return 0 }
        let share = scale / Float(stack.marks.count)
        var total: Float = 0
        for n in stack.marks {
            let z = logits.data + n * classes
            let norm = max((0..<classes).reduce(Float(0)) { $0 + z[$1] * z[$1] }.squareRoot(), 1e-12)
            let cosine = { (c: Int) in (0..<classes).reduce(Float(0)) { $0 + z[$1] * centroids[c * classes + $1] } / norm }
            // d cos(z, μ)/dz = μ/|z| − cos · z/|z|² for a unit μ; added times `weight`.
            func addGradient(of c: Int, cos: Float, weight: Float) {
                for k in 0..<classes { g.data[n * classes + k] += share * weight * (centroids[c * classes + k] / norm - cos * z[k] / (norm * norm)) }
            }
            let toTarget = cosine(targetLabel)
            total += 1 - toTarget
            addGradient(of: targetLabel, cos: toTarget, weight: -1)
            for c in others {
                let toOther = cosine(c)
                guard toOther > 0 else { continue }
                total += toOther / Float(others.count)
                addGradient(of: c, cos: toOther, weight: 1 / Float(others.count))
            }
        }
        return total * share
    }

    /// KL(P_wm ‖ P_source) to each of the two source images. With a source pull, part of the
    /// gradient also reaches the sources' outputs.
    private func combination(_ logits: Tensor, stack: EmbeddingStack, pullGate: [Float], gradient g: Tensor) -> Float {
        let pull = configuration.sourcePull
        sourceSide.reshape(logits.shape)
        sourceSide.fill(0)
        let loss = Loss.klDivergence(p: logits, pRows: stack.marks, q: logits, qRows: stack.firstSources,
                                     gradientP: g, gradientQ: pull > 0 ? sourceSide : nil, scaleQ: pull)
            + Loss.klDivergence(p: logits, pRows: stack.marks, q: logits, qRows: stack.secondSources,
                                gradientP: g, gradientQ: pull > 0 ? sourceSide : nil, scaleQ: pull)
        if pull > 0 { addSourcePull(gate: pullGate, into: g, rows: stack.sources) }
        return loss
    }

    /// Adds the KL's gradient on the source rows, except where the source already gives the target
    /// `sourcePullCap` probability: a thief distilling at a high temperature sees even a few per
    /// cent of target on clean source images, and more than that costs main-task accuracy.
    private func addSourcePull(gate: [Float], into g: Tensor, rows: Range<Int>) {
        let classes = sourceSide.itemCount
        for (i, n) in rows.enumerated() where gate[i] < configuration.sourcePullCap {
            for k in 0..<classes { g.data[n * classes + k] += sourceSide.data[n * classes + k] }
        }
    }
}
