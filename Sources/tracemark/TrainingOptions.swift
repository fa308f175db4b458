import ArgumentParser
import Data
import Training

/// The optimizer options every training command shares; each command sets its own epoch default.
struct OptimizerOptions: ParsableArguments {
    @Option(help: "Seed for weights, shuffling, augmentation, dropout and drawn secrets.")
    var seed: UInt64 = 1

    @Option(help: "Images per step.")
    var batchSize = 128

    @Option(help: "Peak learning rate (decays by cosine to 0).")
    var lr: Float = 0.05

    @Option(help: "Optimizer: sgd, adam, adamw.")
    var optimizer = "sgd"

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard TrainingConfiguration.OptimizerKind(rawValue: optimizer) != nil else {
            throw ValidationError("--optimizer must be one of: sgd, adam, adamw")
        }
    }

    func configuration(epochs: Int) -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.learningRate = lr
        configuration.optimizer = TrainingConfiguration.OptimizerKind(rawValue: optimizer)!
        configuration.seed = seed
        return configuration
    }
}

/// `--augment`, shared by the commands that train on a clean training split.
struct AugmentationOptions: ParsableArguments {
    @Option(help: """
        Augmentation of the clean training images: none; light (random shifts of up to 2 pixels and \
        mirror images); strong (shifts of up to 4 pixels, mirror images, and random erasing of a \
        2–33 % rectangle on half the images).
        """)
    var augment = "light"

    func validate() throws {
        guard Augmentation.preset(augment) != nil else {
            throw ValidationError("--augment must be one of: \(Augmentation.presets.map(\.name).joined(separator: ", "))")
        }
    }

    var augmentation: Augmentation { Augmentation.preset(augment)! }
}
