import XCTest
@testable import Engine

/// oneDNN against the engine's own kernels: per-layer gradient checks on both, whole networks
/// computing the same function and gradients on both, the layout plan, and the fallback.
final class OneDNNTests: XCTestCase {
    override func setUp() {
        Parallel.configure(workers: 2)
        XCTAssertTrue(OneDNN.isAvailable, "oneDNN did not start (scripts/setup.sh installs libdnnl-dev)")
    }

    func testBatchNormAndMaxPoolGradientsOnBothLibraries() {
        for library in KernelLibrary.allCases {
            let norm = BatchNorm(inputShape: [3, 4, 4], library: library)
            XCTAssertEqual(norm.library, library)
            var rng = SeededGenerator(seed: 8)
            for i in 0..<3 { norm.gamma.value[i] = rng.nextUniform(0.5, 1.5); norm.beta.value[i] = rng.nextUniform(-0.5, 0.5) }
            let input = Tensor(shape: [4, 3, 4, 4], values: GradientCheck.randomValues(192, seed: 9, range: -2...3))
            GradientCheck.check(norm, name: "BatchNorm train \(library)", input: input)

            let frozen = BatchNorm(inputShape: [3, 2, 2], library: library)
            for i in 0..<3 { frozen.runningMean.value[i] = Float(i) * 0.3; frozen.runningVariance.value[i] = 0.5 + Float(i) }
            let small = Tensor(shape: [2, 3, 2, 2], values: GradientCheck.randomValues(24, seed: 10))
            GradientCheck.check(frozen, name: "BatchNorm eval \(library)", input: small, training: false)

            for (shape, kernel, stride) in [([3, 6, 6], 2, 2), ([2, 7, 7], 3, 2), ([4, 7, 7], 2, 2)] {
                let pool = MaxPool2d(inputShape: shape, kernel: kernel, stride: stride, library: library)
                XCTAssertEqual(pool.library, library)
                let count = 2 * shape.reduce(1, *)
                let images = Tensor(shape: [2] + shape, values: GradientCheck.distinct(count, seed: 4))
                GradientCheck.check(pool, name: "MaxPool2d \(shape) k\(kernel) s\(stride) \(library)", input: images)
            }
        }
    }

    /// Batch norm with the ReLU fused in (oneDNN's workspace mask) between convolutions that hand
    /// each other blocked layouts, in training and evaluation mode.
    func testFusedChainGradients() {
        for training in [true, false] {
            var rng = SeededGenerator(seed: 3)
            let layers: [Layer] = [
                Conv2d(inputShape: [2, 8, 8], outChannels: 16, kernel: 3, padding: 1, bias: false, library: .oneDNN, rng: &rng),
                BatchNorm(inputShape: [16, 8, 8], library: .oneDNN), ReLU(inputShape: [16, 8, 8]),
                MaxPool2d(inputShape: [16, 8, 8], kernel: 2, library: .oneDNN),
                Conv2d(inputShape: [16, 4, 4], outChannels: 16, kernel: 3, padding: 1, bias: true, library: .oneDNN, rng: &rng),
                BatchNorm(inputShape: [16, 4, 4], library: .oneDNN), ReLU(inputShape: [16, 4, 4]),
                Flatten(inputShape: [16, 4, 4]), Linear(inFeatures: 256, outFeatures: 3, rng: &rng),
            ]
            let network = Network(architecture: "chain", inputShape: [2, 8, 8], layers: layers)
            network.computesInputGradient = true
            XCTAssertTrue((layers[1] as! BatchNorm).fusesReLU)
            XCTAssertTrue(layers[0].keepsOneDNNLayout && layers[3].keepsOneDNNLayout && !layers[6].keepsOneDNNLayout)
            for case let norm as BatchNorm in layers {
                for i in 0..<16 { norm.runningMean.value[i] = 0.1 * Float(i % 3); norm.runningVariance.value[i] = 0.5 + 0.1 * Float(i % 4) }
            }
            let input = Tensor(shape: [3, 2, 8, 8], values: GradientCheck.randomValues(384, seed: 5))
            GradientCheck.checkDirections(name: "conv-BN-ReLU chain, training \(training)", input: input, parameters: network.store.parameters,
                                          forward: { network.forward($0, training: training) }, backward: { network.backward($0) })
        }
    }

    /// The same seed gives the same weights on both libraries; the logits, every gradient and the
    /// running statistics must then agree, over two batch sizes (each its own plans) and both modes.
    func testEveryArchitectureComputesTheSameOnBothLibraries() throws {
        for architecture in ModelZoo.architectures {
            let reference = try ModelZoo.make(architecture, inputShape: [1, 16, 16], classes: 4, seed: 2, library: .openBLAS)
            let candidate = try ModelZoo.make(architecture, inputShape: [1, 16, 16], classes: 4, seed: 2, library: .oneDNN)
            for network in [reference, candidate] { network.computesInputGradient = true }
            for (round, (batch, training)) in [(5, true), (3, true), (5, false)].enumerated() {
                let input = Tensor(shape: [batch, 1, 16, 16], values: GradientCheck.randomValues(batch * 256, seed: UInt64(10 + round)))
                let logitGradient = GradientCheck.randomValues(batch * 4, seed: UInt64(20 + round))
                var results: [(logits: [Float], input: [Float], parameters: [[Float]], buffers: [[Float]])] = []
                for network in [reference, candidate] {
                    network.store.zeroGradients()
                    // Dropout draws from the layer's own generator, the same on both sides.
                    let logits = network.forward(input, training: training).values
                    let inputGradient = network.backward(Tensor(shape: [batch, 4], values: logitGradient)).values
                    let parameters = network.namedParameters.filter { $0.parameter.kind == .trainable }.map(\.parameter.gradientValues)
                    let buffers = network.namedParameters.filter { $0.parameter.kind == .buffer }.map(\.parameter.values)
                    results.append((logits, inputGradient, parameters, buffers))
                }
                let name = "\(architecture) batch \(batch) training \(training)"
                assertClose(results[1].logits, results[0].logits, "logits of \(name)")
                assertClose(results[1].input, results[0].input, "input gradient of \(name)")
                for (index, (mine, theirs)) in zip(results[1].parameters, results[0].parameters).enumerated() {
                    assertClose(mine, theirs, "gradient \(index) of \(name)")
                }
                for (index, (mine, theirs)) in zip(results[1].buffers, results[0].buffers).enumerated() {
                    assertClose(mine, theirs, "running statistics \(index) of \(name)")
                }
            }
        }
    }

    func testNetworksPlanLayoutsAndFusionOnlyOnOneDNN() throws {
        let fast = try ModelZoo.make("fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 1, library: .oneDNN)
        // conv, BN, ReLU, conv, BN, ReLU, pool, conv, BN, ReLU, conv, BN, ReLU, pool, flatten, …
        XCTAssertEqual(fast.layers.prefix(14).map(\.keepsOneDNNLayout), Array(repeating: true, count: 13) + [false])
        XCTAssertEqual(fast.layers.compactMap { ($0 as? BatchNorm)?.fusesReLU }, [true, true, true, true])
        let reference = try ModelZoo.make("fmnist-cnn", inputShape: [1, 28, 28], classes: 10, seed: 1, library: .openBLAS)
        XCTAssertFalse(reference.layers.contains { $0.keepsOneDNNLayout })
        XCTAssertEqual(reference.layers.compactMap { ($0 as? BatchNorm)?.fusesReLU }, [false, false, false, false])
        let output = fast.forward(Tensor(shape: [2, 1, 28, 28]), training: false)
        XCTAssertNil(output.layout)
    }

    /// A layer on the engine's own kernels handed a tensor in a oneDNN layout (what happens when a
    /// layer's oneDNN primitives fail to build after the network planned its layouts) reorders it
    /// to NCHW, and hands the input gradient back in the layout it came in.
    func testALayerOnItsOwnKernelsTakesATensorInAOneDNNLayout() {
        var rng = SeededGenerator(seed: 4)
        let conv = Conv2d(inputShape: [3, 6, 6], outChannels: 16, kernel: 3, padding: 1, library: .oneDNN, rng: &rng)
        conv.keepsOneDNNLayout = true
        let input = Tensor(shape: [2, 3, 6, 6], values: GradientCheck.randomValues(216, seed: 6))
        let output = conv.forward(input, training: true)
        XCTAssertNotNil(output.layout, "the convolution kept its blocked layout")
        let blocked = Tensor(shape: [0])  // a copy: the layer reuses its output tensor
        blocked.reshape(output.shape, layout: output.layout)
        blocked.data.update(from: output.data, count: output.storageCount)
        conv.keepsOneDNNLayout = false
        let plain = Tensor(shape: blocked.shape, values: conv.forward(input, training: true).values)

        let pools = [MaxPool2d(inputShape: [16, 6, 6], kernel: 2, library: .openBLAS), MaxPool2d(inputShape: [16, 6, 6], kernel: 2, library: .openBLAS)]
        let fromBlocked = pools[0].forward(blocked, training: true).values
        XCTAssertEqual(fromBlocked, pools[1].forward(plain, training: true).values)
        let outputGradient = GradientCheck.randomValues(2 * 16 * 9, seed: 7)
        let gradientBlocked = pools[0].backward(Tensor(shape: [2, 16, 3, 3], values: outputGradient))
        XCTAssertNotNil(gradientBlocked.layout, "the gradient goes back in the layout the input came in")
        let gradientPlain = pools[1].backward(Tensor(shape: [2, 16, 3, 3], values: outputGradient)).values
        // Back through the convolution (which takes the gradient in its output's layout) to compare in NCHW.
        conv.keepsOneDNNLayout = true
        _ = conv.forward(input, training: true)
        conv.weight.gradient.update(repeating: 0, count: conv.weight.count)
        _ = conv.backward(gradientBlocked)
        let viaBlocked = conv.weight.gradientValues
        conv.keepsOneDNNLayout = false
        _ = conv.forward(input, training: true)
        conv.weight.gradient.update(repeating: 0, count: conv.weight.count)
        _ = conv.backward(Tensor(shape: [2, 16, 6, 6], values: gradientPlain))
        assertClose(viaBlocked, conv.weight.gradientValues, "weight gradient through the fallback")
    }

    /// BF16 mixed precision computes the FP32 convolution to bfloat16's precision (8 bits of
    /// mantissa, FP32 accumulation): outputs and all gradients within 2 % of the largest value.
    func testBF16ConvolutionsFollowFP32ToBFloat16Precision() throws {
        try XCTSkipUnless(Precision.bf16IsNative, "this CPU has no AVX-512 BF16 or AMX (oneDNN: \(OneDNN.instructionSet))")
        for (shape, out, stride) in [([16, 10, 10], 32, 1), ([32, 9, 9], 16, 2)] {
            var first = SeededGenerator(seed: 5), second = SeededGenerator(seed: 5)
            let reference = Conv2d(inputShape: shape, outChannels: out, kernel: 3, stride: stride, padding: 1, bias: true,
                                   library: .oneDNN, precision: .fp32, rng: &first)
            let mixed = Conv2d(inputShape: shape, outChannels: out, kernel: 3, stride: stride, padding: 1, bias: true,
                               library: .oneDNN, precision: .bf16, rng: &second)
            let x = Tensor(shape: [4] + shape, values: GradientCheck.randomValues(4 * shape.reduce(1, *), seed: 1))
            let dy = GradientCheck.randomValues(4 * reference.outputShape.reduce(1, *), seed: 2)
            var results: [[[Float]]] = []
            for conv in [reference, mixed] {
                conv.weight.gradient.update(repeating: 0, count: conv.weight.count)
                conv.bias!.gradient.update(repeating: 0, count: out)
                let y = conv.forward(x, training: true).values
                let dx = conv.backward(Tensor(shape: [4] + conv.outputShape, values: dy)).values
                results.append([y, dx, conv.weight.gradientValues, conv.bias!.gradientValues])
            }
            for (what, (expected, actual)) in zip(["output", "input gradient", "weight gradient", "bias gradient"], zip(results[0], results[1])) {
                let scale = expected.map(abs).max() ?? 1
                let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 0.02 * scale, "\(what) of \(shape) stride \(stride)")
                XCTAssertGreaterThan(worst, 0, "\(what) of \(shape): BF16 rounding left no trace, so BF16 did not run")
            }
        }
    }

    private func assertClose(_ actual: [Float], _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        let worst = zip(actual, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, 2e-4, what, file: file, line: line)
    }
}
