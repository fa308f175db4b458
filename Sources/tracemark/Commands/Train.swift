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
        decay, random shifts of up to 2 pixels and mirror images. Same seed, same result. \
        Progress goes to standard error; with --json one JSON object goes to standard output.
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

    @Option(help: "Use only the first N training images.")
    var trainLimit: Int?

    @Flag(help: "Train on the images as they are (no shifts or mirror images).")
    var noAugment = false

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    @OptionGroup var optimizer: OptimizerOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1") }
        guard ModelZoo.architectures.contains(arch) else { throw EngineError.unknownArchitecture(arch) }
    }

    func run() throws {
        engine.apply()
        try ensureWritableFolder(for: out)
        let trainSet = try DatasetCatalog.load(data, split: "train").prefix(trainLimit)
        let testSet = try DatasetCatalog.load(data, split: "test")
        var configuration = optimizer.configuration(epochs: epochs)
        if noAugment { configuration.augmentation = .none }

        printStatus("training \(arch) on \(trainSet.count) \(data) images for \(epochs) epochs, batch \(optimizer.batchSize), \(engine.threads) threads")
        let classifier = try Classifier.untrained(arch, for: trainSet, seed: optimizer.seed)
        let line = ProgressLine()
        let result = Trainer(classifier: classifier, configuration: configuration).train(on: trainSet, testSet: testSet, progress: line.show)
        try Checkpoint.save(classifier, to: out)
        let digest = sha256Hex(try Data(contentsOf: URL(fileURLWithPath: out)))
        let report = TrainReport(architecture: arch, data: data, trainImages: trainSet.count, epochs: epochs,
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
    var epochs: Int
    var testAccuracy: Double
    var trainImagesPerSecond: Double
    var trainingSeconds: Double
    var threads: Int
    var model: String
    var modelSha256: String
    var perEpoch: [EpochSummary]
}
