import Data
import Engine
import Foundation

/// Independently trained clean models of one data set: architectures in turn (and within each
/// architecture, augmentation presets in turn), each with its own seed and its own random subset
/// of the training split. The calibration measures its null on
/// them, and a fingerprint is filtered with them — from seeds that never meet, since a null
/// measured on the models that chose the fingerprint would be biased low.
public struct ReferenceModels {
    public let trainSet: Dataset
    public let datasetName: String
    public let architectures: [String]
    /// `Augmentation.presets` names; reference `index` trains with the
    /// `(index / architectures.count)`-th in turn, so every architecture meets each of them.
    public let augmentations: [String]
    public let epochs: Int
    public let trainImages: Int
    /// Reference `index` gets seed `seed + index`.
    public let seed: UInt64
    /// Checkpoints are saved here and loaded from here when present.
    public let folder: URL?

    /// Every name in `augmentations` must be one of `Augmentation.presets`.
    public init(trainSet: Dataset, datasetName: String, architectures: [String], augmentations: [String] = ["light"], epochs: Int,
                trainImages: Int, seed: UInt64, folder: URL?) {
        precondition(!augmentations.isEmpty && augmentations.allSatisfy(Self.isAugmentation), "augmentation presets are checked by the plans")
        self.trainSet = trainSet
        self.datasetName = datasetName
        self.architectures = architectures
        self.augmentations = augmentations
        self.epochs = epochs
        self.trainImages = trainImages
        self.seed = seed
        self.folder = folder
    }

    public static func isAugmentation(_ name: String) -> Bool { Augmentation.presets.contains { $0.name == name } }

    public struct Reference {
        public let classifier: Classifier
        /// How it was trained, as a file records it.
        public let recipe: ReferenceRecipe
    }

    public func seed(of index: Int) -> UInt64 { seed &+ UInt64(index) }

    /// Reference `index`: loaded when its checkpoint is in the folder, else trained and saved there.
    public func model(_ index: Int) throws -> Reference {
        let architecture = architectures[index % architectures.count]
        let augmentation = augmentations[(index / architectures.count) % augmentations.count]
        let seed = seed(of: index)
        // Everything that shapes the model is in the name, so a rerun with other settings trains anew
        // (the default augmentation is left out, as in the names calibrations have always used).
        let file = folder?.appendingPathComponent(
            "reference-\(index)-\(architecture)-seed\(seed)-\(datasetName)-\(trainImages)images-\(epochs)epochs"
            + (augmentation == "light" ? "" : "-augment-\(augmentation)") + ".safetensors")
        let subset = trainSet.randomSubset(trainImages, seed: seed)
        let recipe = try ReferenceRecipe(architecture: architecture, augmentation: augmentation, seed: seed, trainImages: subset.count, epochs: epochs)
        if let file, FileManager.default.fileExists(atPath: file.path) {
            return Reference(classifier: try Checkpoint.load(file.path), recipe: recipe)
        }
        let model = try Classifier.untrained(architecture, for: subset, seed: seed)
        var configuration = TrainingConfiguration()
        configuration.epochs = epochs
        configuration.seed = seed
        configuration.augmentation = Augmentation.presets.first { $0.name == augmentation }!.augmentation
        _ = Trainer(classifier: model, configuration: configuration).train(on: subset)
        if let file { try Checkpoint.save(model, to: file.path) }
        return Reference(classifier: model, recipe: recipe)
    }
}

/// How one independent reference model was trained, as the files it chose something for record
/// it (a fingerprint's and a trigger filter's references): a calibration refuses to measure its
/// null on these seeds, since the models that chose the evidence answer none of it by construction.
public struct ReferenceRecipe: Codable, Equatable, Sendable {
    public let architecture: String
    /// An `Augmentation.presets` name.
    public let augmentation: String
    public let seed: UInt64
    public let trainImages: Int
    public let epochs: Int

    public init(architecture: String, augmentation: String, seed: UInt64, trainImages: Int, epochs: Int) throws {
        guard ModelZoo.architectures.contains(architecture) else {
            throw TrainingError.invalid("architecture '\(architecture.prefix(80))' is not one of \(ModelZoo.architectures.joined(separator: ", "))")
        }
        guard ReferenceModels.isAugmentation(augmentation) else {
            throw TrainingError.invalid("augmentation '\(augmentation.prefix(40))' is not one of \(Augmentation.presets.map(\.name).joined(separator: ", "))")
        }
        guard trainImages >= 0, epochs >= 0 else { throw TrainingError.invalid("train_images and epochs must be 0 or more") }
        self.architecture = architecture
        self.augmentation = augmentation
        self.seed = seed
        self.trainImages = trainImages
        self.epochs = epochs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let architecture = try c.decode(String.self, forKey: .architecture), augmentation = try c.decode(String.self, forKey: .augmentation)
        let seed = try c.decode(UInt64.self, forKey: .seed)
        let trainImages = try c.decode(Int.self, forKey: .trainImages), epochs = try c.decode(Int.self, forKey: .epochs)
        self = try decoder.validated {
            try ReferenceRecipe(architecture: architecture, augmentation: augmentation, seed: seed, trainImages: trainImages, epochs: epochs)
        }
    }
}

/// A value a training description cannot take, in words.
public enum TrainingError: Error, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let reason): return reason
        }
    }
}
