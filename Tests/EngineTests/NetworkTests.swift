import XCTest
@testable import Engine

final class NetworkTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    func testEveryArchitectureTakesBothInputShapes() throws {
        for architecture in ModelZoo.architectures {
            for shape in [[1, 28, 28], [3, 32, 32]] {
                let network = try ModelZoo.make(architecture, inputShape: shape, classes: 10, seed: 1)
                let input = Tensor(shape: [2] + shape, values: GradientCheck.randomValues(2 * shape.reduce(1, *), seed: 2))
                let logits = network.forward(input, training: true)
                XCTAssertEqual(logits.shape, [2, 10], "\(architecture) on \(shape)")
                XCTAssertTrue(logits.values.allSatisfy(\.isFinite))
            }
        }
        XCTAssertThrowsError(try ModelZoo.make("alexnet", inputShape: [1, 28, 28], classes: 10, seed: 1))
    }

    func testFashionCNNHasTheSpecifiedLayers() throws {
        let network = try ModelZoo.make("fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 1)
        let shapes = Dictionary(uniqueKeysWithValues: network.namedParameters.map { ($0.name, $0.parameter.shape) })
        XCTAssertEqual(shapes["layers.0.weight"], [32, 1, 3, 3])
        XCTAssertEqual(shapes["layers.3.weight"], [32, 32, 3, 3])
        XCTAssertEqual(shapes["layers.7.weight"], [64, 32, 3, 3])
        XCTAssertEqual(shapes["layers.10.weight"], [64, 64, 3, 3])
        XCTAssertEqual(shapes["layers.15.weight"], [256, 3136])
        XCTAssertEqual(shapes["layers.18.weight"], [10, 256])
        XCTAssertNotNil(shapes["layers.1.running_var"])
    }

    /// Whole networks on both kernel libraries (every layer kind, both convolution strategies, residual blocks, the flat
    /// parameter store) against finite differences along random directions: for a unit direction v
    /// over all weights and the input, (L(θ+εv) − L(θ−εv)) / 2ε with ε = 1e-3 must match ∇L·v
    /// within 1 %. Per-element checks live in the layer tests. A deep ReLU network is only piecewise
    /// smooth (max-pool windows of post-ReLU zeros tie), so ε must be small enough that a step
    /// flips few decisions: vgg-small still misses by up to 25 % at ε = 1e-2 and converges by 1e-3.
    func testWholeNetworkDirectionalDerivatives() throws {
        for architecture in ["fmnist-cnn", "resnet-small", "vgg-small", "mlp"] {
            for library in KernelLibrary.allCases {
                let network = try ModelZoo.make(architecture, inputShape: [1, 16, 16], classes: 3, seed: 4, library: library)
                network.computesInputGradient = true
                let input = Tensor(shape: [4, 1, 16, 16], values: GradientCheck.randomValues(1024, seed: 5))
                // Evaluation mode keeps dropout out of the way for fmnist-cnn; training mode (batch
                // statistics) for the others.
                let training = architecture != "fmnist-cnn"
                GradientCheck.checkDirections(name: "\(architecture) on \(library)", input: input, parameters: network.store.parameters,
                                              forward: { network.forward($0, training: training) },
                                              backward: { network.backward($0) })
            }
        }
    }

    func testLossGradientFillsAFlatBufferWithoutStepping() throws {
        let network = try ModelZoo.make("mlp", inputShape: [1, 8, 8], classes: 3, seed: 6)
        let input = Tensor(shape: [4, 1, 8, 8], values: GradientCheck.randomValues(256, seed: 7))
        let before = Array(UnsafeBufferPointer(start: network.store.values, count: network.store.count))
        var buffer: [Float] = []
        let value = network.lossGradient(input: input, into: &buffer) { logits, gradient in
            Loss.crossEntropy(logits: logits, labels: [0, 1, 2, 0], gradient: gradient)
        }
        XCTAssertGreaterThan(value, 0)
        XCTAssertEqual(buffer.count, network.store.count)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: network.store.values, count: network.store.count)), before)
        XCTAssertGreaterThan(buffer.map(abs).max()!, 0)
        let weight = network.namedParameters.first { $0.name == "layers.1.weight" }!.parameter
        let offset = weight.value - network.store.values
        XCTAssertEqual(Array(buffer[offset..<offset + weight.count]), Array(UnsafeBufferPointer(start: weight.gradient, count: weight.count)))
    }

    func testSameSeedGivesTheSameWeightsAndOutputs() throws {
        let a = try ModelZoo.make("fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 9)
        let b = try ModelZoo.make("fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 9)
        let c = try ModelZoo.make("fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 10)
        let weights = { (n: Network) in Array(UnsafeBufferPointer(start: n.store.values, count: n.store.count)) }
        XCTAssertEqual(weights(a), weights(b))
        XCTAssertNotEqual(weights(a), weights(c))
    }
}
