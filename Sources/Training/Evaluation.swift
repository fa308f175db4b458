import Data
import Engine

/// How well a classifier does on labelled data.
public enum Evaluation {
    /// Share of items whose top-1 label is right, in [0, 1].
    public static func accuracy(of classifier: Classifier, on dataset: Dataset) -> Double {
        guard dataset.count > 0 else { return 0 }
        let predicted = dataset.images.withUnsafeBufferPointer { classifier.labels($0) }
        let correct = zip(predicted, dataset.labels).filter { $0 == $1 }.count
        return Double(correct) / Double(dataset.count)
    }

    /// How many items of each true class (row) got each answer (column), over the classifier's
    /// classes. A label the classifier has no class for counts in no row.
    public static func confusion(of classifier: Classifier, on dataset: Dataset) -> [[Int]] {
        let classes = classifier.classCount
        var counts = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        let predicted = dataset.images.withUnsafeBufferPointer { classifier.labels($0) }
        for (answer, label) in zip(predicted, dataset.labels) where (0..<classes).contains(Int(label)) {
            counts[Int(label)][Int(answer)] += 1
        }
        return counts
    }
}

extension Classifier {
    /// A freshly initialised classifier of `architecture` for `dataset`'s items and classes,
    /// normalised by the data set's own channel statistics.
    public static func untrained(_ architecture: String, for dataset: Dataset, seed: UInt64) throws -> Classifier {
        let network = try ModelZoo.make(architecture, inputShape: dataset.itemShape, classes: dataset.classNames.count, seed: seed)
        let statistics = dataset.channelStatistics()
        let card = try ModelCard(architecture: architecture, inputShape: dataset.itemShape, classNames: dataset.classNames,
                             mean: statistics.mean, std: statistics.std)
        return Classifier(network: network, card: card)
    }
}
