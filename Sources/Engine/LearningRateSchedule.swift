import Foundation

/// The learning rate as a function of training progress, measured in (fractional) epochs.
public enum LearningRateSchedule: Equatable, Sendable {
    case constant(Float)
    /// Multiply by `factor` every `every` whole epochs.
    case step(base: Float, every: Int, factor: Float)
    /// Cosine decay from `base` to `minimum` over the whole run, after a linear warm-up.
    case cosine(base: Float, minimum: Float, warmupEpochs: Double)

    public func rate(atEpoch progress: Double, totalEpochs: Int) -> Float {
        switch self {
        case .constant(let rate):
            return rate
        case let .step(base, every, factor):
            return base * pow(factor, Float(Int(progress) / Swift.max(every, 1)))
        case let .cosine(base, minimum, warmup):
            if progress < warmup { return base * Float((progress + 1e-3) / warmup) }
            let span = Swift.max(Double(totalEpochs) - warmup, 1e-9)
            let fraction = Swift.min(Swift.max((progress - warmup) / span, 0), 1)
            return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * fraction)))
        }
    }
}
