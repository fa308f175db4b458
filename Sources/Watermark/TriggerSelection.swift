import Engine
import Foundation
import Training

/// Which trigger samples verification uses once they were filtered (`tracemark filter-triggers`,
/// DeepTracer's key-sample filtering): of a pool of trigger samples drawn the spec's way, those
/// the protected model and simulated copies of it answer with the target and no filter reference
/// does. The selection is part of the spec, so the registration's commitment covers it, and every
/// probe, calibration and sealed trigger set draws the same images.
public struct TriggerSelection: Codable, Equatable, Sendable {
    /// Samples drawn, with the spec's trigger seed, in the order an unfiltered set is drawn.
    public let poolSize: Int
    /// Indices into the pool, strictly ascending: a shorter trigger set is a prefix of these.
    public let kept: [Int]
    public let simulatedCopies: [SimulatedCopy]
    /// The independent models that chose the kept samples: a calibration must not measure its null
    /// on them (they answer none of the kept samples with the target by construction).
    public let filterReferences: [ReferenceRecipe]

    /// At most a million samples in a pool: drawing one walks the whole pool up to the last kept index.
    public static let poolSizes = 1...1_000_000
    public static let largestCopyCount = 32

    /// A copy of the protected model trained by `filter-triggers` as a thief would (distilled from
    /// its answers; then, when `fineTuneImages` > 0, fine-tuned on true labels).
    public struct SimulatedCopy: Codable, Equatable, Sendable {
        public let architecture: String
        /// Training-split images it was distilled on, and epochs.
        public let queries: Int
        public let epochs: Int
        public let seed: UInt64
        /// Clean images of the fine-tuning that followed (0: none) and its learning rate.
        public let fineTuneImages: Int
        public let fineTuneLearningRate: Float
        /// Share of the pool, and of the kept samples, it answers with the target.
        public let poolHitRate: Double
        public let keptHitRate: Double

        public init(architecture: String, queries: Int, epochs: Int, seed: UInt64, fineTuneImages: Int, fineTuneLearningRate: Float,
                    poolHitRate: Double, keptHitRate: Double) throws {
            guard ModelZoo.architectures.contains(architecture) else {
                throw WatermarkError.invalid("simulated copy architecture '\(architecture.prefix(80))' is not one of \(ModelZoo.architectures.joined(separator: ", "))")
            }
            guard queries >= 1, epochs >= 1, fineTuneImages >= 0 else {
                throw WatermarkError.invalid("a simulated copy needs at least 1 query and 1 epoch, and 0 or more fine-tuning images")
            }
            guard fineTuneLearningRate.isFinite, fineTuneLearningRate >= 0,
                  [poolHitRate, keptHitRate].allSatisfy({ (0...1).contains($0) }) else {
                throw WatermarkError.invalid("a simulated copy's learning rate must be finite and not negative, its hit rates in [0, 1]")
            }
            self.architecture = architecture
            self.queries = queries
            self.epochs = epochs
            self.seed = seed
            self.fineTuneImages = fineTuneImages
            self.fineTuneLearningRate = fineTuneLearningRate
            self.poolHitRate = poolHitRate
            self.keptHitRate = keptHitRate
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let architecture = try c.decode(String.self, forKey: .architecture)
            let queries = try c.decode(Int.self, forKey: .queries), epochs = try c.decode(Int.self, forKey: .epochs)
            let seed = try c.decode(UInt64.self, forKey: .seed), fineTuneImages = try c.decode(Int.self, forKey: .fineTuneImages)
            let rate = try c.decode(Float.self, forKey: .fineTuneLearningRate)
            let pool = try c.decode(Double.self, forKey: .poolHitRate), kept = try c.decode(Double.self, forKey: .keptHitRate)
            self = try decoder.validated {
                try SimulatedCopy(architecture: architecture, queries: queries, epochs: epochs, seed: seed, fineTuneImages: fineTuneImages,
                                  fineTuneLearningRate: rate, poolHitRate: pool, keptHitRate: kept)
            }
        }
    }

    public init(poolSize: Int, kept: [Int], simulatedCopies: [SimulatedCopy], filterReferences: [ReferenceRecipe]) throws {
        guard Self.poolSizes.contains(poolSize) else {
            throw WatermarkError.invalid("a trigger pool holds \(Self.poolSizes.lowerBound)–\(Self.poolSizes.upperBound) samples, got \(poolSize)")
        }
        guard WatermarkSpec.triggerSetSizes.contains(kept.count) else {
            throw WatermarkError.invalid("a trigger selection keeps \(WatermarkSpec.triggerSetSizes.lowerBound)–\(WatermarkSpec.triggerSetSizes.upperBound) samples, got \(kept.count)")
        }
        guard kept.first! >= 0, kept.last! < poolSize, zip(kept, kept.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw WatermarkError.invalid("kept must be strictly ascending indices into the pool of \(poolSize)")
        }
        guard simulatedCopies.count <= Self.largestCopyCount, filterReferences.count <= 100, !(simulatedCopies.isEmpty && filterReferences.isEmpty) else {
            throw WatermarkError.invalid("a trigger selection is chosen by 0–\(Self.largestCopyCount) simulated copies and 0–100 filter references, at least one model in all")
        }
        self.poolSize = poolSize
        self.kept = kept
        self.simulatedCopies = simulatedCopies
        self.filterReferences = filterReferences
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let poolSize = try c.decode(Int.self, forKey: .poolSize), kept = try c.decode([Int].self, forKey: .kept)
        let copies = try c.decode([SimulatedCopy].self, forKey: .simulatedCopies)
        let references = try c.decode([ReferenceRecipe].self, forKey: .filterReferences)
        self = try decoder.validated {
            try TriggerSelection(poolSize: poolSize, kept: kept, simulatedCopies: copies, filterReferences: references)
        }
    }
}
