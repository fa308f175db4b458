import Engine
import Training

/// The simulated thief of T2S's rehearsal (`Rehearsal`).
public struct RehearsalConfiguration: Sendable, Equatable {
    /// The student's architecture (`ModelZoo`).
    public var architecture: String
    /// The temperature the student distils the victim's answers at (our thieves use 7).
    public var temperature: Float = 7
    /// The student's SGD: it steps at the victim's learning rate of the step.
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4

    public init(architecture: String) {
        self.architecture = architecture
    }
}

/// T2S's rehearsal (seed 000; our reading of its abstract, which gives no equations): a student is
/// distilled online from the victim, one step per embedding step on the step's clean images, and
/// the rehearsal task minimises the student's watermark loss after that step. Its gradient with
/// respect to the victim's logits is how the answers a thief copies should change so that the copy
/// carries the watermark.
///
/// Our reading, first order: the student's step θ' = θ + (ηT/B) Σ_x Σ_k t_k(x) ∇θ log q_k(x)
/// (soft cross-entropy against the victim's soft labels t at temperature T, scaled by T so its
/// logit gradient (q − t)/B has a cross-entropy's size; our thieves' T² made the online student
/// diverge on a confident victim's answers) gives
/// ∂L_wm(θ')/∂t_k(x) ≈ (ηT/B) ⟨∇θ L_wm(θ), ∇θ log q_k(x)⟩, with ∇L_wm taken at
/// θ rather than θ'. Those inner products, for every image and class, are one directional
/// derivative of the student's log probabilities along ∇L_wm, taken by a central difference (two
/// forward passes): the term costs one student step and three forward passes, not a backward pass
/// per image and class. Through the softmax at T: ∂L/∂z_j = t_j (r_j − Σ_k t_k r_k) / T.
/// Also ours: the student sees the victim's training-mode logits of the stacked batch (a thief
/// sees evaluation-mode answers), and the difference is taken in evaluation mode.
final class Rehearsal {
    let student: Classifier
    let configuration: RehearsalConfiguration
    private let optimizer: Optimizer
    private let input = Tensor(shape: [0])
    private let cleanInput = Tensor(shape: [0])
    private let watermarkLogitGradient = Tensor(shape: [0])
    private let distillationLogitGradient = Tensor(shape: [0])
    private var watermarkGradient: [Float] = []
    private var distillationGradient: [Float] = []
    private var savedValues: [Float] = []
    /// Distance of the central difference along the unit watermark gradient, in parameter space.
    static let differenceStep: Float = 1e-2

    init(student: Classifier, configuration: RehearsalConfiguration) {
        self.student = student
        self.configuration = configuration
        optimizer = SGD(momentum: configuration.momentum, nesterov: configuration.momentum > 0, weightDecay: configuration.weightDecay)
    }

    /// The student's watermark loss on the `marks` rows before its step. Adds the loss's first-order
    /// gradient after the step with respect to `victimLogits` into `gradient`'s `clean` rows, then
    /// takes the student's distillation step at `learningRate`. `pixels` holds the raw items of the
    /// stack; the clean rows come first and the watermark rows right after them.
    func step(victimLogits: Tensor, clean: Range<Int>, marks: Range<Int>, markLabels: [Int32],
              pixels: UnsafePointer<Float>, learningRate: Float, gradient: Tensor) -> Float {
        precondition(clean.lowerBound == 0 && marks.lowerBound == clean.upperBound, "clean rows first, watermark rows right after")
        let network = student.network, store = network.store, temperature = configuration.temperature
        let classes = victimLogits.itemCount
        let softLabels = Tensor(shape: [clean.count, classes])
        softLabels.data.update(from: victimLogits.data + clean.lowerBound * classes, count: clean.count * classes)
        let targets = Loss.probabilities(softLabels, temperature: temperature)

        student.normalize(pixels, count: marks.upperBound, into: input)
        let logits = network.forward(input, training: true)
        for g in [watermarkLogitGradient, distillationLogitGradient] {
            g.reshape(logits.shape)
            g.fill(0)
        }
        let watermarkLoss = Loss.crossEntropy(logits: logits, labels: markLabels, rows: marks, gradient: watermarkLogitGradient)
        _ = Loss.softCrossEntropy(logits: logits, targets: targets, temperature: temperature, rows: clean,
                                  gradient: distillationLogitGradient, scale: temperature)
        backward(watermarkLogitGradient, keeping: &watermarkGradient)
        backward(distillationLogitGradient, keeping: &distillationGradient)

        let norm = Float(dot(watermarkGradient, watermarkGradient).squareRoot())
        if norm > 0, !clean.isEmpty {
            let alignment = logProbabilityDerivative(along: watermarkGradient, norm: norm, cleanRows: clean.count)
            // (ηT/B)·|∇L_wm| per unit of the directional derivative, then 1/T through the softmax: T cancels.
            let scale = learningRate / Float(clean.count) * norm
            for (i, n) in clean.enumerated() {
                let t = targets.data + i * classes, r = i * classes
                var mean: Float = 0
                for k in 0..<classes { mean += t[k] * alignment[r + k] }
                for j in 0..<classes { gradient.data[n * classes + j] += scale * t[j] * (alignment[r + j] - mean) }
            }
        }
        store.setGradients(distillationGradient)
        optimizer.step(store, learningRate: learningRate)
        return watermarkLoss
    }

    /// One loss's logit gradient back-propagated through the student's last forward pass alone;
    /// its parameter gradient is left in `parameterGradient`.
    private func backward(_ logitGradient: Tensor, keeping parameterGradient: inout [Float]) {
        student.network.store.zeroGradients()
        student.network.backward(logitGradient)
        student.network.store.copyGradients(into: &parameterGradient)
    }

    /// d log q_k(x) / dε along the unit `direction`, for each of the first `cleanRows` items of the
    /// last input and each class (rows × classes), by a central difference in evaluation mode. The
    /// parameters are restored bit for bit.
    private func logProbabilityDerivative(along direction: [Float], norm: Float, cleanRows: Int) -> [Float] {
        let store = student.network.store, count = store.count, classes = student.classCount
        let itemSize = student.itemSize, step = Self.differenceStep
        cleanInput.reshape([cleanRows] + student.card.inputShape)
        cleanInput.data.update(from: input.data, count: cleanRows * itemSize)
        if savedValues.count != count { savedValues = [Float](repeating: 0, count: count) }
        savedValues.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: store.values, count: count) }

        var result = [Float](repeating: 0, count: cleanRows * classes)
        for sign: Float in [1, -1] {
            direction.withUnsafeBufferPointer { d in
                savedValues.withUnsafeBufferPointer { v in
                    for i in 0..<count { store.values[i] = v[i] + sign * step * d[i] / norm }
                }
            }
            let logProbabilities = Loss.logProbabilities(student.network.forward(cleanInput, training: false),
                                                         temperature: configuration.temperature)
            for i in 0..<result.count { result[i] += sign * logProbabilities.data[i] / (2 * step) }
        }
        savedValues.withUnsafeBufferPointer { store.values.update(from: $0.baseAddress!, count: count) }
        return result
    }
}
