/// Inverted dropout: in training each element is zeroed with probability p and the survivors are
/// scaled by 1/(1−p); evaluation passes the input through unchanged.
public final class Dropout: Layer {
    public let probability: Float
    public let outputShape: [Int]
    public var computesInputGradient = true
    private var rng: SeededGenerator
    private var mask: [Float] = []
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inputShape: [Int], probability: Float, rng: inout SeededGenerator) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1)")
        self.probability = probability
        outputShape = inputShape
        self.rng = rng.fork()
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        output.reshape(input.shape)
        if !training || probability == 0 {
            output.data.update(from: input.data, count: input.count)
            mask = [Float](repeating: 1, count: input.count)
            return output
        }
        let keep = 1 / (1 - probability)
        if mask.count != input.count { mask = [Float](repeating: 0, count: input.count) }
        for i in 0..<input.count { mask[i] = rng.nextUnitFloat() < probability ? 0 : keep }
        mask.withUnsafeBufferPointer { m in
            for i in 0..<input.count { output.data[i] = input.data[i] * m[i] }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        inputGradient.reshape(outputGradient.shape)
        mask.withUnsafeBufferPointer { m in
            for i in 0..<outputGradient.count { inputGradient.data[i] = outputGradient.data[i] * m[i] }
        }
        return inputGradient
    }
}
