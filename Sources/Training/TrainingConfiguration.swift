import Data
import Engine

/// How to train a classifier. The defaults are the recipe that takes `fmnist-cnn` past 92.5 %
/// on Fashion-MNIST in 15 epochs: SGD with Nesterov momentum, cosine decay, light augmentation.
public struct TrainingConfiguration: Sendable, Equatable {
    public enum OptimizerKind: String, Sendable, CaseIterable { case sgd, adam, adamw }

    public var epochs = 15
    public var batchSize = 128
    public var learningRate: Float = 0.05
    public var optimizer = OptimizerKind.sgd
    public var momentum: Float = 0.9
    public var nesterov = true
    public var weightDecay: Float = 5e-4
    public var schedule: LearningRateSchedule? = nil
    public var augmentation = Augmentation.light
    /// Cross-entropy against (1 − ε)·onehot + ε/K instead of the one-hot label (Szegedy et al. 2016).
    public var labelSmoothing: Float = 0
    /// Mixup and CutMix, each with its Beta(α, α) parameter; 0 turns one off.
    public var mixing = BatchMixing(mixupAlpha: 0, cutmixAlpha: 0)
    public var seed: UInt64 = 1

    public init() {}

    /// The schedule in force: the one given, else cosine decay from `learningRate` to zero.
    public var effectiveSchedule: LearningRateSchedule {
        schedule ?? .cosine(base: learningRate, minimum: 0, warmupEpochs: 0)
    }

    public func makeOptimizer() -> Optimizer {
        switch optimizer {
        case .sgd: return SGD(momentum: momentum, nesterov: nesterov && momentum > 0, weightDecay: weightDecay)
        case .adam: return Adam(weightDecay: weightDecay)
        case .adamw: return Adam(weightDecay: weightDecay, decoupled: true)
        }
    }
}
