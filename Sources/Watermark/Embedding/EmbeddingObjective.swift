import Engine
import Training

/// MEA-Defender's embedding as one step of the training loop: stack the clean batch with fresh
/// watermark, evasion and source images (`EmbeddingStack`), forward once, take the four losses
/// (`EmbeddingLosses`), and let the weighting (`TaskBalancer`: MGDA or fixed) make one gradient.
final class EmbeddingObjective: TrainingObjective {
    let factory: TriggerFactory
    let configuration: EmbeddingConfiguration
    let tasks: [EmbeddingTask]
    private let losses: EmbeddingLosses
    private let balancer: TaskBalancer
    private var pixels: [Float] = []
    private let input = Tensor(shape: [0])

    /// `student` is the rehearsal's, needed when the configuration asks for one.
    init(factory: TriggerFactory, configuration: EmbeddingConfiguration, student: Classifier? = nil) {
        var tasks = EmbeddingTask.allCases.filter { configuration.tasks.contains($0) }
        if factory.spec.method == .contentTrigger { tasks.removeAll { $0 == .combination || $0 == .evasion } }
        let rehearsal = !tasks.contains(.rehearsal) ? nil : configuration.rehearsal.map { setup -> Rehearsal in
            precondition(student != nil, "a rehearsal needs its student")
            return Rehearsal(student: student!, configuration: setup)
        }
        if rehearsal == nil { tasks.removeAll { $0 == .rehearsal } }
        self.factory = factory
        self.configuration = configuration
        self.tasks = tasks
        losses = EmbeddingLosses(tasks: tasks, configuration: configuration, spec: factory.spec, rehearsal: rehearsal)
        balancer = TaskBalancer(weighting: configuration.weighting, tasks: tasks)
    }

    func backward(_ batch: TrainingBatch, classifier: Classifier) -> StepOutcome {
        let stack = EmbeddingStack(batch: batch, factory: factory, configuration: configuration, tasks: tasks,
                                   seed: configuration.training.seed &* 0x9E37_79B9 ^ UInt64(batch.globalStep), into: &pixels)
        pixels.withUnsafeMutableBufferPointer { classifier.normalize($0.baseAddress!, count: stack.rows, into: input) }
        let pullGate = losses.sourceTargetProbabilities(classifier, input: input, stack: stack)
        let logits = classifier.network.forward(input, training: true)
        let taskLosses = pixels.withUnsafeBufferPointer {
            losses.evaluate(logits, stack: stack, labels: batch.labels, pullGate: pullGate, pixels: $0.baseAddress!, learningRate: batch.learningRate)
        }
        balancer.backward(classifier.network, gradients: losses.gradients, losses: taskLosses, step: batch.globalStep)
        let weights = balancer.weights
        return StepOutcome(loss: tasks.reduce(0) { $0 + Float(weights[$1]!) * taskLosses[$1]! },
                           correct: countCorrect(logits, labels: batch.labels), images: stack.rows,
                           taskLosses: Dictionary(uniqueKeysWithValues: tasks.map { ($0.rawValue, taskLosses[$0]!) }),
                           taskWeights: Dictionary(uniqueKeysWithValues: tasks.map { ($0.rawValue, weights[$0]!) }))
    }
}
