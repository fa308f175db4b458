/// max(0, x), element-wise.
public final class ReLU: Layer {
    public let outputShape: [Int]
    public var computesInputGradient = true
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inputShape: [Int]) { outputShape = inputShape }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        output.reshape(input.shape)
        let x = input.data, y = output.data
        Parallel.chunks(input.count) { range, _ in
            for i in range { y[i] = Swift.max(x[i], 0) }
        }
        return output
    }

    // The mask comes from the output: y > 0 exactly where x > 0.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        inputGradient.reshape(output.shape)
        let y = output.data, dy = outputGradient.data, dx = inputGradient.data
        Parallel.chunks(output.count) { range, _ in
            for i in range { dx[i] = dy[i] * (y[i] > 0 ? 1 : 0) }
        }
        return inputGradient
    }
}
