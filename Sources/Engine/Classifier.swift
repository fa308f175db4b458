/// A network together with its model card: takes raw pixels in [0, 1], normalises them as the
/// card says, and answers with logits, probabilities or labels. Evaluation mode throughout.
public final class Classifier {
    public let network: Network
    public let card: ModelCard
    private let input = Tensor(shape: [0])

    public init(network: Network, card: ModelCard) {
        precondition(card.inputShape == network.inputShape, "model card and network disagree on the input shape")
        precondition(card.classNames.count == network.classCount, "model card names \(card.classNames.count) classes, the network has \(network.classCount)")
        self.network = network
        self.card = card
    }

    public var itemSize: Int { card.inputShape.reduce(1, *) }
    public var classCount: Int { card.classNames.count }

    /// Copies `count` raw items into `tensor`, normalised per channel.
    public func normalize(_ raw: UnsafePointer<Float>, count: Int, into tensor: Tensor) {
        tensor.reshape([count] + card.inputShape)
        let channels = card.inputShape[0], plane = itemSize / channels
        let mean = card.mean, inverseStd = card.std.map { 1 / $0 }
        let x = tensor.data
        Parallel.chunks(count) { range, _ in
            for n in range {
                for c in 0..<channels {
                    let offset = n * self.itemSize + c * plane
                    let m = mean[c], s = inverseStd[c]
                    for i in 0..<plane { x[offset + i] = (raw[offset + i] - m) * s }
                }
            }
        }
    }

    /// Logits for `count` raw items, in chunks of `batchSize`: (count, classes).
    public func logits(_ raw: UnsafeBufferPointer<Float>, batchSize: Int = 500) -> Tensor {
        precondition(raw.count % itemSize == 0, "\(raw.count) values are not whole \(card.inputShape) items")
        let count = raw.count / itemSize
        let result = Tensor(shape: [count, classCount])
        var start = 0
        while start < count {
            let size = Swift.min(batchSize, count - start)
            normalize(raw.baseAddress! + start * itemSize, count: size, into: input)
            let out = network.forward(input, training: false)
            (result.data + start * classCount).update(from: out.data, count: size * classCount)
            start += size
        }
        return result
    }

    public func probabilities(_ raw: UnsafeBufferPointer<Float>, temperature: Float = 1) -> Tensor {
        Loss.probabilities(logits(raw), temperature: temperature)
    }

    public func labels(_ raw: UnsafeBufferPointer<Float>) -> [Int32] {
        logits(raw).rowArgmax()
    }
}
