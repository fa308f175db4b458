import Data
import Engine
import Foundation
import Training

/// Independently trained clean models of one data set: architectures in turn, each with its own
/// seed and its own random subset of the training split. The calibration measures its null on
/// them, and a fingerprint is filtered with them — from seeds that never meet, since a null
/// measured on the models that chose the fingerprint would be biased low.
public struct ReferenceModels {
    public let trainSet: Dataset
    public let datasetName: String
    public let architectures: [String]
    public let epochs: Int
    public let trainImages: Int
    /// Reference `index` gets seed `seed + index`.
    public let seed: UInt64
    /// Checkpoints are saved here and loaded from here when present.
    public let folder: URL?

    public init(trainSet: Dataset, datasetName: String, architectures: [String], epochs: Int, trainImages: Int, seed: UInt64, folder: URL?) {
        self.trainSet = trainSet
        self.datasetName = datasetName
        self.architectures = architectures
        self.epochs = epochs
        self.trainImages = trainImages
        self.seed = seed
        self.folder = folder
    }

    public struct Reference {
        public let classifier: Classifier
        public let architecture: String
        public let seed: UInt64
        public let trainImages: Int
    }

    /// Reference `index`: loaded when its checkpoint is in the folder, else trained and saved there.
    public func model(_ index: Int) throws -> Reference {
        let architecture = architectures[index % architectures.count]
        let seed = self.seed &+ UInt64(index)
        // Everything that shapes the model is in the name, so a rerun with other settings trains anew.
        let file = folder?.appendingPathComponent(
            "reference-\(index)-\(architecture)-seed\(seed)-\(datasetName)-\(trainImages)images-\(epochs)epochs.safetensors")
        var order = Array(trainSet.labels.indices)
        var rng = SeededGenerator(seed: seed)
        order.shuffle(using: &rng)
        let subset = trainSet.subset(Array(order.prefix(trainImages)).sorted())
        if let file, FileManager.default.fileExists(atPath: file.path) {
            return Reference(classifier: try Checkpoint.load(file.path), architecture: architecture, seed: seed, trainImages: subset.count)
        }
        let model = try Classifier.untrained(architecture, for: subset, seed: seed)
        var configuration = TrainingConfiguration()
        configuration.epochs = epochs
        configuration.seed = seed
        _ = Trainer(classifier: model, configuration: configuration).train(on: subset)
        if let file { try Checkpoint.save(model, to: file.path) }
        return Reference(classifier: model, architecture: architecture, seed: seed, trainImages: subset.count)
    }
}
