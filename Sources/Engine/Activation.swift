/// max(0, x), element-wise. Element-wise, so it works on a tensor in any oneDNN layout and passes
/// the layout on when the next layer takes it; after a batch norm on oneDNN it is fused into that
/// layer and passes everything through.
public final class ReLU: Layer {
    public let outputShape: [Int]
    public var computesInputGradient = true
    public var keepsOneDNNLayout = false
    public var takesOneDNNLayouts: Bool { keepsOneDNNLayout }
    /// Set by `Network` when the batch norm before applies the ReLU itself.
    var isFusedIntoBatchNorm = false
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inputShape: [Int]) { outputShape = inputShape }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        if isFusedIntoBatchNorm { return input }
        output.reshape(input.shape, layout: input.layout)
        let x = input.data, y = output.data
        Parallel.chunks(input.storageCount) { range, _ in
            for i in range { y[i] = Swift.max(x[i], 0) }
        }
        return output
    }

    // The mask comes from the output: y > 0 exactly where x > 0.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        if isFusedIntoBatchNorm { return outputGradient }
        inputGradient.reshape(output.shape, layout: output.layout)
        let y = output.data, dy = outputGradient.data, dx = inputGradient.data
        Parallel.chunks(output.storageCount) { range, _ in
            for i in range { dx[i] = dy[i] * (y[i] > 0 ? 1 : 0) }
        }
        return inputGradient
    }
}
