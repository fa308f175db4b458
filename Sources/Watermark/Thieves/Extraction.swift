import Data
import Engine
import Training

/// How the thief turns the victim's answers into training targets.
public enum ThiefLabels: Equatable, Sendable {
    /// The probability vectors, softened at a temperature (distillation; the authors' thief uses T = 7).
    case soft(temperature: Float)
    /// Only the top-1 label (an API that returns labels, the paper's admitted weakness).
    case hard
}

/// A model-extraction attack: query the victim, train a surrogate on its answers.
public struct ExtractionAttack {
    public var surrogateArchitecture: String
    public var labels: ThiefLabels
    /// Epochs, optimizer, learning rate and seed of the surrogate's training (no augmentation:
    /// the thief only has answers for the images it sent).
    public var training: TrainingConfiguration

    public init(surrogateArchitecture: String, labels: ThiefLabels, training: TrainingConfiguration) {
        self.surrogateArchitecture = surrogateArchitecture
        self.labels = labels
        self.training = training
        self.training.augmentation = .none
    }

    /// Sends every image of `queries` to the victim once and trains a fresh surrogate on the answers
    /// (distillation when the queries are the victim's own task data, Knockoff when they come
    /// from another distribution).
    public func run(victim: QueryableModel, queries: Dataset, testSet: Dataset? = nil,
                    progress: (TrainingProgress) -> Void = { _ in }) throws -> Classifier {
        let (labelled, answers) = try victim.labelled(queries)
        let surrogate = try Classifier.untrained(surrogateArchitecture, for: labelled, seed: training.seed)
        let trainer = Trainer(classifier: surrogate, configuration: training)
        switch labels {
        case .soft(let temperature):
            let targets = SoftTargets(probabilities: Array(UnsafeBufferPointer(start: answers.data, count: answers.count)),
                                      temperature: temperature)
            _ = trainer.train(on: labelled, testSet: testSet, softTargets: targets, progress: progress)
        case .hard:
            _ = trainer.train(on: labelled, testSet: testSet, progress: progress)
        }
        return surrogate
    }

    /// Papernot et al.'s Jacobian-based dataset augmentation: start from a small seed set; each
    /// round, label the set with the victim, train the surrogate on it, and add for every image
    /// x + λ·sign(∂ surrogate_y(x)/∂x) for the victim's label y, doubling the set.
    public func runJacobian(victim: QueryableModel, seedSet: Dataset, rounds: Int, step lambda: Float,
                            testSet: Dataset? = nil, progress: (Int, TrainingProgress) -> Void = { _, _ in }) throws -> Classifier {
        var set = seedSet
        set.classNames = victim.classNames
        let surrogate = try Classifier.untrained(surrogateArchitecture, for: set, seed: training.seed)
        let classes = victim.classNames.count
        // The victim's answers so far: each round sends only the images it added, as a thief paying per query would.
        var probabilities: [Float] = []
        for round in 0...rounds {
            let answered = probabilities.count / classes
            let fresh = try set.images[(answered * set.itemSize)...].withUnsafeBufferPointer { try victim.answer($0) }
            probabilities += UnsafeBufferPointer(start: fresh.data, count: fresh.count)
            set.labels = (0..<set.count).map { n in Int32(argmax(probabilities[n * classes..<(n + 1) * classes])) }
            // A fresh optimizer state each round; the surrogate keeps its weights.
            let trainer = Trainer(classifier: surrogate, configuration: training)
            switch labels {
            case .soft(let temperature):
                let targets = SoftTargets(probabilities: probabilities, temperature: temperature)
                _ = trainer.train(on: set, testSet: round == rounds ? testSet : nil, softTargets: targets, progress: { progress(round, $0) })
            case .hard:
                _ = trainer.train(on: set, testSet: round == rounds ? testSet : nil, progress: { progress(round, $0) })
            }
            if round < rounds { set = jacobianAugmented(set, surrogate: surrogate, lambda: lambda) }
        }
        return surrogate
    }

    private func jacobianAugmented(_ set: Dataset, surrogate: Classifier, lambda: Float) -> Dataset {
        var result = set
        result.images += SignedGradientStep.apply(surrogate, images: set.images, labels: set.labels, objective: .logit, step: lambda)
        result.labels += set.labels
        return result
    }
}
