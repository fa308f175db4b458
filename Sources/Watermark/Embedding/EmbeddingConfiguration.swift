import Training

/// The four objectives of MEA-Defender's embedding, and T2S's rehearsal.
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
    /// A simulated thief's watermark loss after its distillation step (`Rehearsal`); only with a
    /// `rehearsal` student.
    case rehearsal
}

public struct EmbeddingConfiguration: Sendable {
    /// Epochs, batch size (clean images per step), optimizer, schedule, augmentation, seed.
    public var training = TrainingConfiguration()
    public var watermarkPerBatch = 16
    public var evasionPerBatch = 32
    /// Share of the evasion samples made of other source pairs combined the secret way (0–1);
    /// the rest combine the secret pair the other ways.
    public var otherPairEvasion = 0.5
    public var tasks = Set(EmbeddingTask.allCases)
    public var weighting = TaskWeighting.mgda(interval: 10, normalization: .l2, groups: .tasks, utilityFloor: 0.5)
    /// How much of the combination KL's gradient also reaches the source images' outputs, 0–1.
    /// 0 treats the sources' softmax as a constant (the released code): only the watermark
    /// sample's output moves. Above 0 the sources' outputs are pulled towards the watermark's,
    /// which puts some of the target label into the model's answers on clean source images —
    /// what a distilling thief copies.
    /// The default pulls fully: without it the combination KL resists the verification loss more
    /// as the sources grow confident, and an embedding from scratch loses its watermark in later
    /// epochs (WSR 83 % after epoch 2, 38 % after epoch 3 at seed 7).
    public var sourcePull: Float = 1
    /// The pull stops on a source image once it gives the target this probability.
    public var sourcePullCap: Float = 0.1
    /// Whether the utility loss also covers the stacked source images, with their true labels.
    /// Off until the detection matrix judges it: on one seed it gave back 1.9 points of accuracy
    /// but the distilled copy's WSR fell from 82 % to 63 %.
    public var anchorSources = false
    /// λ of DeepTracer's coupling loss, added to the verification task: each watermark sample's
    /// logits pulled towards the target class's clean logits and away from the other classes'
    /// (`EmbeddingLosses.coupling`); 0 leaves it out. Our reading of the paper's feature-space
    /// loss, in logit space: the representation a distilling thief copies.
    public var coupling: Float = 0
    /// T2S's rehearsal student (`Rehearsal`), balanced as one more task; nil leaves it out.
    public var rehearsal: RehearsalConfiguration?

    public init() {}
}
