/// A feed-forward stack of layers with named parameters (`layers.3.weight`) and one flat
/// parameter store.
public final class Network {
    public let architecture: String
    /// Shape of one input item, (C, H, W).
    public let inputShape: [Int]
    public let layers: [Layer]
    public let store: ParameterStore

    public init(architecture: String, inputShape: [Int], layers: [Layer]) {
        precondition(!layers.isEmpty, "a network needs at least one layer")
        self.architecture = architecture
        self.inputShape = inputShape
        self.layers = layers
        layers[0].computesInputGradient = false
        Self.planOneDNNLayouts(layers)
        store = ParameterStore(layers.flatMap { $0.namedParameters.map(\.parameter) }.filter { $0.kind == .trainable })
    }

    /// A batch norm on oneDNN applies the ReLU after it itself (one pass instead of two), and
    /// consecutive layers on oneDNN hand each other tensors in its layouts; planned from the last
    /// layer back, since whether a ReLU can pass a layout on depends on the layer after it.
    static func planOneDNNLayouts(_ layers: [Layer]) {
        for (first, second) in zip(layers, layers.dropFirst()) {
            if let norm = first as? BatchNorm, let relu = second as? ReLU, norm.runsOnOneDNN {
                norm.fusesReLU = true
                relu.isFusedIntoBatchNorm = true
            }
        }
        for index in layers.indices.reversed() {
            layers[index].keepsOneDNNLayout = index + 1 < layers.count && layers[index + 1].takesOneDNNLayouts
        }
    }

    public var classCount: Int { layers.last!.outputShape.reduce(1, *) }

    /// Every parameter and state buffer by its checkpoint name, in layer order.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { index, layer in
            layer.namedParameters.map { ("layers.\(index).\($0.name)", $0.parameter) }
        }
    }

    /// Whether `backward` also returns the gradient with respect to the input images (needed for
    /// Jacobian-based query synthesis; off by default because it costs a GEMM per image).
    public var computesInputGradient: Bool {
        get { layers[0].computesInputGradient }
        set { layers[0].computesInputGradient = newValue }
    }

    // input is (B, C, H, W), output is the logits (B, classes)
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        var activation = input
        for layer in layers { activation = layer.forward(activation, training: training) }
        return activation
    }

    /// Back-propagates the gradient of the logits, adding into every parameter's gradient.
    @discardableResult
    public func backward(_ logitGradient: Tensor) -> Tensor {
        var gradient = logitGradient
        for layer in layers.reversed() { gradient = layer.backward(gradient) }
        return gradient
    }

    /// The gradient of one loss over all trainable parameters, copied into `buffer`, with no
    /// optimizer step (MGDA needs one such vector per task). `loss` maps the logits to the loss
    /// value and writes dLoss/dlogits into the tensor it is given (zeroed beforehand).
    public func lossGradient(input: Tensor, into buffer: inout [Float], training: Bool = true,
                             loss: (_ logits: Tensor, _ logitGradient: Tensor) -> Float) -> Float {
        store.zeroGradients()
        let logits = forward(input, training: training)
        let logitGradient = Tensor(shape: logits.shape)
        let value = loss(logits, logitGradient)
        backward(logitGradient)
        store.copyGradients(into: &buffer)
        return value
    }
}
