import ArgumentParser
import Foundation
import Training

/// Gives a command's filter references their defaults (its library plan's).
protocol FilterReferenceDefaults {
    static var defaultFilterReferences: ReferenceModels.Plan { get }
}

/// How the filter references of a command that chooses evidence with them train (`filter-triggers`,
/// `fingerprint make`): the same options everywhere, each command's defaults.
struct FilterReferenceOptions<Defaults: FilterReferenceDefaults>: ParsableArguments {
    @Option(help: "Filter reference models.")
    var references = Defaults.defaultFilterReferences.count

    @Option(help: "Filter reference architectures, comma-separated, used in turn.")
    var architectures = Defaults.defaultFilterReferences.architectures.joined(separator: ",")

    @Option(help: "Filter reference augmentation presets (none, light, strong), comma-separated, in turn within each architecture.")
    var augmentations = Defaults.defaultFilterReferences.augmentations.joined(separator: ",")

    @Option(help: "Training epochs per filter reference.")
    var referenceEpochs = Defaults.defaultFilterReferences.epochs

    @Option(help: "Clean training images per filter reference, its own random subset.")
    var referenceTrainImages = Defaults.defaultFilterReferences.trainImages

    @Option(help: "Keep filter reference checkpoints here and reuse those already there.")
    var referenceDir: String?

    /// The references these options ask for, from `seed`.
    func plan(seed: UInt64 = Defaults.defaultFilterReferences.seed) -> ReferenceModels.Plan {
        let list = { (text: String) in text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        return ReferenceModels.Plan(count: references, architectures: list(architectures), augmentations: list(augmentations),
                                    epochs: referenceEpochs, trainImages: referenceTrainImages, seed: seed)
    }

    /// The reference folder, created when it is named and missing.
    func folder() throws -> URL? {
        guard let referenceDir else { return nil }
        try FileManager.default.createDirectory(atPath: referenceDir, withIntermediateDirectories: true)
        return URL(fileURLWithPath: referenceDir)
    }
}
