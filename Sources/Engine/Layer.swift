/// One stage of a network with an explicit forward and backward pass.
///
/// A layer is built for one input item shape (for example `[1, 28, 28]`) and owns its output and
/// input-gradient tensors. `forward` keeps a reference to its input for `backward`; `backward`
/// adds the parameter gradients (callers zero them) and returns the gradient for the input.
public protocol Layer: AnyObject {
    /// Shape of one output item (without the batch dimension).
    var outputShape: [Int] { get }
    /// Parameters and state buffers, named relative to the layer (`weight`, `conv1.weight`).
    var namedParameters: [(name: String, parameter: Parameter)] { get }
    /// The first layer of a network skips computing the gradient of the images.
    var computesInputGradient: Bool { get set }

    func forward(_ input: Tensor, training: Bool) -> Tensor
    func backward(_ outputGradient: Tensor) -> Tensor

    /// Whether the layer reads inputs in oneDNN's layouts, so the layer before may leave its
    /// output in one (convolutions, batch norm, max pooling on oneDNN, and ReLU between them).
    var takesOneDNNLayouts: Bool { get }
    /// Whether the output may stay in oneDNN's layout: `Network` sets it when the next layer
    /// takes such layouts. The input gradient always comes back in the input's layout.
    var keepsOneDNNLayout: Bool { get set }
}

extension Layer {
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }
    public var takesOneDNNLayouts: Bool { false }
    public var keepsOneDNNLayout: Bool {
        get { false }
        set {}
    }
}

/// The usual default initialisation (PyTorch's): weights and biases uniform in ±1/√fan_in.
func uniformFanIn(count: Int, fanIn: Int, rng: inout SeededGenerator) -> [Float] {
    let bound = 1 / Float(fanIn).squareRoot()
    return (0..<count).map { _ in rng.nextUniform(-bound, bound) }
}
