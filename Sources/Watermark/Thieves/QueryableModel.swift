import Data
import Engine

/// What a thief can do with a victim: send images, read probability vectors back. An in-process
/// classifier answers directly; a model behind an HTTP API answers through the probe client.
public protocol QueryableModel {
    var itemShape: [Int] { get }
    var classNames: [String] { get }
    /// Probability vectors (count, classes) for `images`, raw pixels in [0, 1].
    func answer(_ images: UnsafeBufferPointer<Float>) throws -> Tensor
}

extension Classifier: QueryableModel {
    public var itemShape: [Int] { card.inputShape }
    public var classNames: [String] { card.classNames }
    public func answer(_ images: UnsafeBufferPointer<Float>) throws -> Tensor { probabilities(images) }
}

extension QueryableModel {
    /// `set` as the model answers it: the labels are its top-1 answers (with its class names), beside
    /// the probability rows they came from.
    public func labelled(_ set: Dataset) throws -> (set: Dataset, probabilities: Tensor) {
        let answers = try set.images.withUnsafeBufferPointer { try answer($0) }
        var labelled = set
        labelled.classNames = classNames
        labelled.labels = answers.rowArgmax()
        return (labelled, answers)
    }
}
