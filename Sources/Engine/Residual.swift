/// ResNet's basic block: conv3×3(stride)-BN-ReLU-conv3×3-BN, plus a shortcut (identity, or
/// conv1×1(stride)-BN when the shape changes), then ReLU.
public final class ResidualBlock: Layer {
    let conv1: Conv2d, bn1: BatchNorm, relu1: ReLU, conv2: Conv2d, bn2: BatchNorm
    let shortcutConv: Conv2d?, shortcutNorm: BatchNorm?
    let outputActivation: ReLU
    public let outputShape: [Int]
    public var computesInputGradient = true {
        didSet {
            conv1.computesInputGradient = computesInputGradient
            shortcutConv?.computesInputGradient = computesInputGradient
        }
    }

    private let sum = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inputShape: [Int], outChannels: Int, stride: Int, library: KernelLibrary = .selected, rng: inout SeededGenerator) {
        conv1 = Conv2d(inputShape: inputShape, outChannels: outChannels, kernel: 3, stride: stride, padding: 1, bias: false,
                       library: library, rng: &rng)
        bn1 = BatchNorm(inputShape: conv1.outputShape, library: library)
        relu1 = ReLU(inputShape: conv1.outputShape)
        conv2 = Conv2d(inputShape: conv1.outputShape, outChannels: outChannels, kernel: 3, padding: 1, bias: false, library: library, rng: &rng)
        bn2 = BatchNorm(inputShape: conv2.outputShape, library: library)
        if stride != 1 || inputShape[0] != outChannels {
            let projection = Conv2d(inputShape: inputShape, outChannels: outChannels, kernel: 1, stride: stride, bias: false,
                                    library: library, rng: &rng)
            shortcutConv = projection
            shortcutNorm = BatchNorm(inputShape: projection.outputShape, library: library)
        } else {
            shortcutConv = nil
            shortcutNorm = nil
        }
        outputShape = conv2.outputShape
        outputActivation = ReLU(inputShape: outputShape)
        // The main path passes oneDNN layouts along inside the block; the sum needs NCHW.
        Network.planOneDNNLayouts([conv1, bn1, relu1, conv2, bn2])
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        var named: [(name: String, parameter: Parameter)] = []
        let parts: [(String, Layer?)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2),
                                         ("shortcut.0", shortcutConv), ("shortcut.1", shortcutNorm)]
        for case let (prefix, layer?) in parts {
            named += layer.namedParameters.map { ("\(prefix).\($0.name)", $0.parameter) }
        }
        return named
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        var branch = conv1.forward(input, training: training)
        branch = bn1.forward(branch, training: training)
        branch = relu1.forward(branch, training: training)
        branch = conv2.forward(branch, training: training)
        branch = bn2.forward(branch, training: training)
        var shortcut = input
        if let shortcutConv, let shortcutNorm {
            shortcut = shortcutNorm.forward(shortcutConv.forward(input, training: training), training: training)
        }
        sum.reshape(branch.shape)
        addElementwise(branch, shortcut, into: sum)
        return outputActivation.forward(sum, training: training)
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let dSum = outputActivation.backward(outputGradient)
        var dBranch = bn2.backward(dSum)
        dBranch = conv2.backward(dBranch)
        dBranch = relu1.backward(dBranch)
        dBranch = bn1.backward(dBranch)
        dBranch = conv1.backward(dBranch)
        var dShortcut = dSum
        if let shortcutConv, let shortcutNorm {
            dShortcut = shortcutConv.backward(shortcutNorm.backward(dSum))
        }
        inputGradient.reshape(dBranch.shape)
        if computesInputGradient { addElementwise(dBranch, dShortcut, into: inputGradient) }
        return inputGradient
    }
}

func addElementwise(_ a: Tensor, _ b: Tensor, into result: Tensor) {
    let x = a.data, y = b.data, z = result.data
    Parallel.chunks(result.count) { range, _ in
        for i in range { z[i] = x[i] + y[i] }
    }
}
