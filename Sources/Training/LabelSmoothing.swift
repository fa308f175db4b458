import Engine

/// Label smoothing (Szegedy et al., CVPR 2016, section 7): the target is (1 − ε)·t + ε/K
/// instead of t, so the model is never pushed towards infinite logit gaps.
public enum LabelSmoothing {
    /// The one-hot rows of `labels` (K = `classes`), smoothed by `epsilon`, into `targets`.
    public static func targets(labels: [Int32], classes: Int, epsilon: Float, into targets: Tensor) {
        targets.reshape([labels.count, classes])
        targets.fill(0)
        for (row, label) in labels.enumerated() { targets.data[row * classes + Int(label)] = 1 }
        smooth(targets, epsilon: epsilon)
    }

    /// Smooths probability rows already in `targets` (distillation targets) in place.
    public static func smooth(_ targets: Tensor, epsilon: Float) {
        guard epsilon > 0 else { return }
        let uniform = epsilon / Float(targets.itemCount)
        for i in 0..<targets.count { targets.data[i] = (1 - epsilon) * targets.data[i] + uniform }
    }
}
