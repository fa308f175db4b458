/// (B, C, H, W) → (B, C·H·W) without copying: the output is a view of the input.
public final class Flatten: Layer {
    public let outputShape: [Int]
    public var computesInputGradient = true
    private var inputShape: [Int] = []

    public init(inputShape: [Int]) { outputShape = [inputShape.reduce(1, *)] }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        return Tensor(viewing: input, shape: [input.batch] + outputShape)
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        Tensor(viewing: outputGradient, shape: inputShape)
    }
}
