import Engine

/// One step's clean batch, as the loop gathered it: the set's items in the step's order, augmented.
public struct TrainingBatch {
    public let epoch: Int
    public let step: Int
    /// Steps taken before this one, over every epoch of the run.
    public let globalStep: Int
    public let indices: ArraySlice<Int>
    public let labels: [Int32]
    /// `labels.count` raw items, augmented; the objective may change them (mixing does).
    public let pixels: UnsafeMutablePointer<Float>
    /// The step's seed, which drew the augmentation; objectives derive their own draws from it.
    public let seed: UInt64
    /// The rate the optimizer steps with after this batch.
    public let learningRate: Float

    public init(epoch: Int, step: Int, globalStep: Int, indices: ArraySlice<Int>, labels: [Int32], pixels: UnsafeMutablePointer<Float>,
                seed: UInt64, learningRate: Float) {
        self.epoch = epoch
        self.step = step
        self.globalStep = globalStep
        self.indices = indices
        self.labels = labels
        self.pixels = pixels
        self.seed = seed
        self.learningRate = learningRate
    }
}

/// What one step's backward pass left behind.
public struct StepOutcome {
    /// The loss the gradient is of (for several tasks, their weighted sum).
    public var loss: Float
    /// Clean items the model answered right in this step's forward pass.
    public var correct: Int
    /// Items forwarded, clean or made by the objective (for the throughput).
    public var images: Int
    /// Each task's loss and weight, for objectives that balance several.
    public var taskLosses: [String: Float] = [:]
    public var taskWeights: [String: Double] = [:]

    public init(loss: Float, correct: Int, images: Int, taskLosses: [String: Float] = [:], taskWeights: [String: Double] = [:]) {
        self.loss = loss
        self.correct = correct
        self.images = images
        self.taskLosses = taskLosses
        self.taskWeights = taskWeights
    }
}

/// What the training loop optimises. The loop orders, gathers and augments the clean batch, zeroes
/// the gradients, calls `backward`, and steps the optimizer; the objective makes whatever extra
/// items it needs, forwards, and leaves its loss's gradient in the network's parameter gradients.
public protocol TrainingObjective: AnyObject {
    func backward(_ batch: TrainingBatch, classifier: Classifier) -> StepOutcome
}

/// Top-1 hits of the first `labels.count` rows of `logits`.
public func countCorrect(_ logits: Tensor, labels: [Int32]) -> Int {
    zip(logits.rowArgmax(rows: labels.count), labels).filter { $0 == $1 }.count
}
