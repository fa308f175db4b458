import Data
import Engine
import Foundation

/// Independently trained clean models of one data set: architectures in turn (and within each
/// architecture, augmentation presets in turn), each with its own seed and its own random subset
/// of the training split. The calibration measures its null on
/// them, and a fingerprint is filtered with them — from seeds that never meet, since a null
/// measured on the models that chose the fingerprint would be biased low.
public struct ReferenceModels {
    /// How many references train, and how.
    public struct Plan: Sendable {
        public var count: Int
        public var architectures: [String]
        /// `Augmentation.presets` names; reference `index` trains with the
        /// `(index / architectures.count)`-th in turn, so every architecture meets each of them.
        public var augmentations: [String]
        public var epochs: Int
        public var trainImages: Int
        /// Reference `index` gets seed `seed + index`.
        public var seed: UInt64

        public init(count: Int, architectures: [String], augmentations: [String] = ["light"], epochs: Int, trainImages: Int, seed: UInt64) {
            (self.count, self.architectures, self.augmentations) = (count, architectures, augmentations)
            (self.epochs, self.trainImages, self.seed) = (epochs, trainImages, seed)
        }

        /// What keeps these references from training, in words; nil when they can. How many
        /// there may be is for each user to say.
        public var problem: String? {
            guard count >= 0 else { return "the number of references must not be negative" }
            guard !architectures.isEmpty, architectures.allSatisfy(ModelZoo.architectures.contains) else {
                return "the references' architectures must be some of \(ModelZoo.architectures.joined(separator: ", "))"
            }
            guard !augmentations.isEmpty, augmentations.allSatisfy(ReferenceModels.isAugmentation) else {
                return "the references' augmentations must be some of \(Augmentation.presets.map(\.name).joined(separator: ", "))"
            }
            guard epochs >= 1, trainImages >= 1 else { return "the references' epochs and train images must be at least 1" }
            return nil
        }
    }

    public let plan: Plan
    public let trainSet: Dataset
    public let datasetName: String
    /// Checkpoints are saved here and loaded from here when present.
    public let folder: URL?

    public init(plan: Plan, trainSet: Dataset, datasetName: String, folder: URL?) throws {
        if let problem = plan.problem { throw TrainingError.invalid(problem) }
        self.plan = plan
        self.trainSet = trainSet
        self.datasetName = datasetName
        self.folder = folder
    }

    public static func isAugmentation(_ name: String) -> Bool { Augmentation.presets.contains { $0.name == name } }

    public struct Reference {
        public let classifier: Classifier
        /// How it was trained, as a file records it.
        public let recipe: ReferenceRecipe
    }

    public func seed(of index: Int) -> UInt64 { plan.seed &+ UInt64(index) }

    /// Reference `index`: loaded when its checkpoint is in the folder, else trained and saved there.
    public func model(_ index: Int) throws -> Reference {
        let architecture = plan.architectures[index % plan.architectures.count]
        let augmentation = plan.augmentations[(index / plan.architectures.count) % plan.augmentations.count]
        let seed = seed(of: index), trainImages = plan.trainImages, epochs = plan.epochs
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
