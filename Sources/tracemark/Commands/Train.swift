import ArgumentParser
import Data
import Engine
import Foundation
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier and save it as a safetensors checkpoint.",
        discussion: """
        Default recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4, cosine learning-rate \
        decay, random shifts of up to 2 pixels and mirror images. Other recipes: --augment, \
        --label-smoothing, --mixup and --cutmix (with both, each batch uses one of them at random), \
        and --train-offset with --train-limit for disjoint slices of the training split. Same seed, \
        same result. Progress goes to standard error; with --json one JSON object goes to standard output.
        """
    )

    @Option(help: "Data set: \(DatasetCatalog.names.joined(separator: ", ")).")
    var data = "fashion-mnist"

    @Option(help: "Architecture: \(ModelZoo.architectures.joined(separator: ", ")).")
    var arch = "fmnist-cnn"

    @Option(help: "Epochs over the training set.")
    var epochs = 15

    @Option(help: "Where to write the checkpoint (.safetensors).")
    var out: String

    @Option(help: "Use only N training images (the first N after --train-offset).")
    var trainLimit: Int?

    @Option(help: "Skip the first N training images.")
    var trainOffset = 0

    @Option(help: "Label smoothing ε in [0, 1): cross-entropy against (1 − ε)·onehot + ε/classes.")
    var labelSmoothing: Float = 0

    @Option(help: "Mixup α (Zhang et al.): blend image pairs and their labels with λ ~ Beta(α, α); 0 is off.")
    var mixup: Float = 0

    @Option(help: "CutMix α (Yun et al.): paste a box of another image covering 1 − λ, λ ~ Beta(α, α); 0 is off.")
    var cutmix: Float = 0

    @OptionGroup var augmentation: AugmentationOptions

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1") }
        guard trainOffset >= 0 else { throw ValidationError("--train-offset must not be negative") }
        guard labelSmoothing >= 0 && labelSmoothing < 1 else { throw ValidationError("--label-smoothing must lie in [0, 1)") }
        guard mixup >= 0 && mixup.isFinite, cutmix >= 0 && cutmix.isFinite else {
            throw ValidationError("--mixup and --cutmix must be finite and not negative (0 turns one off)")
        }
        guard ModelZoo.architectures.contains(arch) else { throw EngineError.unknownArchitecture(arch) }
    }

    func run() throws {
        engine.apply()
        try ensureWritableFolder(for: out)
        let fullTrainSet = try DatasetCatalog.load(data, split: "train")
        guard trainOffset < fullTrainSet.count else {
            throw CommandFailure("--train-offset \(trainOffset) leaves no training images: \(data) has \(fullTrainSet.count)")
        }
        let trainSet = fullTrainSet.slice(offset: trainOffset, limit: trainLimit)
        let testSet = try DatasetCatalog.load(data, split: "test")
        var configuration = optimizer.configuration(epochs: epochs)
        configuration.augmentation = augmentation.augmentation
        configuration.labelSmoothing = labelSmoothing
        configuration.mixing = BatchMixing(mixupAlpha: mixup, cutmixAlpha: cutmix)

        let recipe = ["augment \(augmentation.augment)"] + (labelSmoothing > 0 ? ["label smoothing \(labelSmoothing)"] : [])
            + (mixup > 0 ? ["mixup α \(mixup)"] : []) + (cutmix > 0 ? ["cutmix α \(cutmix)"] : [])
        printStatus("training \(arch) on \(trainSet.count) \(data) images (offset \(trainOffset)) for \(epochs) epochs, batch \(optimizer.batchSize), \(recipe.joined(separator: ", ")), \(engine.threads) threads")
        let classifier = try Classifier.untrained(arch, for: trainSet, seed: optimizer.seed)
        let line = ProgressLine()
        let result = Trainer(classifier: classifier, configuration: configuration).train(on: trainSet, testSet: testSet, progress: line.show)
        try Checkpoint.save(classifier, to: out)
        let digest = sha256Hex(try Data(contentsOf: URL(fileURLWithPath: out)))
        let report = TrainReport(architecture: arch, data: data, trainImages: trainSet.count, trainOffset: trainOffset, epochs: epochs,
                                 augment: augmentation.augment, labelSmoothing: labelSmoothing, mixup: mixup, cutmix: cutmix,
                                 testAccuracy: result.epochs.last?.testAccuracy ?? 0,
                                 trainImagesPerSecond: result.imagesPerSecond, trainingSeconds: result.trainingSeconds,
                                 threads: engine.threads, model: out, modelSha256: digest, perEpoch: result.epochs)
        if json {
            try printJSON(report)
        } else {
            print(String(format: "test accuracy %.2f%%  %.0f train images/s  %.0f s  → %@ (sha256 %@)",
                         100 * report.testAccuracy, report.trainImagesPerSecond, report.trainingSeconds, out, String(digest.prefix(16))))
        }
    }
}

struct TrainReport: Encodable {
    var architecture: String
    var data: String
    var trainImages: Int
    var trainOffset: Int
    var epochs: Int
    var augment: String
    var labelSmoothing: Float
    var mixup: Float
    var cutmix: Float
    var testAccuracy: Double
    var trainImagesPerSecond: Double
    var trainingSeconds: Double
    var threads: Int
    var model: String
    var modelSha256: String
    var perEpoch: [EpochSummary]
}
