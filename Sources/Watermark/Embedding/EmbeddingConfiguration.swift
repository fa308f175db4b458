import Training

/// The four objectives of MEA-Defender's embedding.
public enum EmbeddingTask: String, Codable, Sendable, CaseIterable {
    /// Cross-entropy on clean images: the main task.
    case utility
    /// Cross-entropy of watermark samples to the target label.
    case verification
    /// KL(P_wm ‖ P_source) to each of the two source images: keeps the watermark inside the
    /// main task's output distribution, which is what lets it survive extraction.
    case combination
    /// Cross-entropy of evasion mixes to a true source label: only the secret way triggers.
    case evasion
}

/// How the task losses are weighted.
public enum TaskWeighting: Equatable, Sendable {
    /// Constant weights per task (ablations).
    case fixed([EmbeddingTask: Double])
    /// MGDA: the min-norm point of the task gradients, re-solved every `interval` steps, with the
    /// utility task's weight kept at `utilityFloor` or more (0 is plain MGDA, which starves the
    /// main task: its gradient is the largest, so the min-norm point gives it the least weight).
    case mgda(interval: Int, normalization: GradientNormalization, groups: MGDAGroups, utilityFloor: Double)
}

/// How task gradients are scaled before MGDA compares them. Unscaled, the task with the smallest
/// gradient takes almost all the weight (the reference PyTorch run collapsed onto the watermark).
public enum GradientNormalization: String, Sendable, CaseIterable {
    /// By the gradient's L2 norm: MGDA then weighs directions only.
    case l2
    /// By the task's loss value (MGDA's "loss" normalisation).
    case loss
    case none
}

/// Which tasks MGDA balances.
public enum MGDAGroups: String, Sendable, CaseIterable {
    /// The paper's Eq. 9: one gradient per task.
    case tasks
    /// The released code: cross-entropy over the whole batch (utility + verification + evasion)
    /// against the combination loss, with the two-task closed form.
    case twoGroups = "two-groups"
}

public struct EmbeddingConfiguration: Sendable {
    /// Epochs, batch size (clean images per step), optimizer, schedule, augmentation, seed.
    public var training = TrainingConfiguration()
    public var watermarkPerBatch = 16
    public var evasionPerBatch = 16
    /// Share of the evasion samples made of other source pairs combined the secret way (0–1);
    /// the rest combine the secret pair the other ways.
    public var otherPairEvasion = 0.0
    public var tasks = Set(EmbeddingTask.allCases)
    public var weighting = TaskWeighting.mgda(interval: 10, normalization: .l2, groups: .tasks, utilityFloor: 0.5)
    /// How much of the combination KL's gradient also reaches the source images' outputs, 0–1.
    /// 0 treats the sources' softmax as a constant (the released code): only the watermark
    /// sample's output moves. Above 0 the sources' outputs are pulled towards the watermark's,
    /// which puts some of the target label into the model's answers on clean source images —
    /// what a distilling thief copies.
    public var sourcePull: Float = 0
    /// The pull stops on a source image once it gives the target this probability.
    public var sourcePullCap: Float = 0.05

    public init() {}
}
