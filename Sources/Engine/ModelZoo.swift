/// Networks by name. Each accepts 1×28×28 and 3×32×32 items (any C×H×W large enough); layer
/// sizes after the convolutions follow from the input shape.
public enum ModelZoo {
    public static let architectures = ["fmnist-cnn", "vgg-small", "resnet-small", "mlp"]

    public static let summaries: [String: String] = [
        "fmnist-cnn": "conv32-conv32-pool-conv64-conv64-pool (BN, ReLU), linear 256, dropout 0.3, linear",
        "vgg-small": "VGG-style: 3 stages of two conv3x3-BN-ReLU (32, 64, 128) with max pools, global average pool, linear",
        "resnet-small": "ResNet: conv16 stem, three stages of two basic blocks (16, 32, 64), global average pool, linear",
        "mlp": "flatten, linear 512-ReLU, linear 256-ReLU, linear",
    ]

    /// `library` runs the convolutions, batch norms and max pools (the selected one by default).
    public static func make(_ architecture: String, inputShape: [Int], classes: Int, seed: UInt64,
                            library: KernelLibrary = .selected) throws -> Network {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw EngineError.badInputShape(inputShape)
        }
        guard inputShape[1] >= 8, inputShape[2] >= 8 else { throw EngineError.badInputShape(inputShape) }
        var rng = SeededGenerator(seed: seed)
        let builder = NetworkBuilder(inputShape: inputShape, library: library)
        switch architecture {
        case "fmnist-cnn":
            builder.convolution(32, rng: &rng).convolution(32, rng: &rng).maxPool()
            builder.convolution(64, rng: &rng).convolution(64, rng: &rng).maxPool()
            builder.flatten().linear(256, rng: &rng).relu().dropout(0.3, rng: &rng).linear(classes, rng: &rng)
        case "vgg-small":
            for width in [32, 64, 128] {
                builder.convolution(width, rng: &rng).convolution(width, rng: &rng).maxPool()
            }
            builder.globalAveragePool().flatten().linear(classes, rng: &rng)
        case "resnet-small":
            builder.convolution(16, rng: &rng)
            for (stage, width) in [16, 32, 64].enumerated() {
                builder.residual(width, stride: stage == 0 ? 1 : 2, rng: &rng).residual(width, stride: 1, rng: &rng)
            }
            builder.globalAveragePool().flatten().linear(classes, rng: &rng)
        case "mlp":
            builder.flatten().linear(512, rng: &rng).relu().linear(256, rng: &rng).relu().linear(classes, rng: &rng)
        default:
            throw EngineError.unknownArchitecture(architecture)
        }
        return Network(architecture: architecture, inputShape: inputShape, layers: builder.layers)
    }
}

/// Appends layers while tracking the item shape, so each layer is built for its real input.
final class NetworkBuilder {
    private(set) var layers: [Layer] = []
    private(set) var shape: [Int]
    let library: KernelLibrary

    init(inputShape: [Int], library: KernelLibrary) {
        shape = inputShape
        self.library = library
    }

    private func append(_ layer: Layer) {
        layers.append(layer)
        shape = layer.outputShape
    }

    /// conv3×3 (padding 1, no bias) - BatchNorm - ReLU.
    @discardableResult
    func convolution(_ width: Int, rng: inout SeededGenerator) -> Self {
        append(Conv2d(inputShape: shape, outChannels: width, kernel: 3, padding: 1, bias: false, library: library, rng: &rng))
        append(BatchNorm(inputShape: shape, library: library))
        append(ReLU(inputShape: shape))
        return self
    }

    @discardableResult
    func maxPool() -> Self { append(MaxPool2d(inputShape: shape, kernel: 2, library: library)); return self }

    @discardableResult
    func globalAveragePool() -> Self { append(AvgPool2d(globalOver: shape)); return self }

    @discardableResult
    func residual(_ width: Int, stride: Int, rng: inout SeededGenerator) -> Self {
        append(ResidualBlock(inputShape: shape, outChannels: width, stride: stride, library: library, rng: &rng))
        return self
    }

    @discardableResult
    func flatten() -> Self { append(Flatten(inputShape: shape)); return self }

    @discardableResult
    func linear(_ width: Int, rng: inout SeededGenerator) -> Self {
        append(Linear(inFeatures: shape.reduce(1, *), outFeatures: width, rng: &rng))
        return self
    }

    @discardableResult
    func relu() -> Self { append(ReLU(inputShape: shape)); return self }

    @discardableResult
    func dropout(_ probability: Float, rng: inout SeededGenerator) -> Self {
        append(Dropout(inputShape: shape, probability: probability, rng: &rng))
        return self
    }
}
