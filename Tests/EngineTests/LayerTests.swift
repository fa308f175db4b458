import XCTest
@testable import Engine

final class PoolingTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    func testMaxPoolGradients() {
        let pool = MaxPool2d(inputShape: [3, 6, 6], kernel: 2)
        let input = Tensor(shape: [2, 3, 6, 6], values: GradientCheck.distinct(216, seed: 4))
        GradientCheck.check(pool, name: "MaxPool2d", input: input)
    }

    func testOverlappingMaxPoolGradients() {
        let pool = MaxPool2d(inputShape: [2, 7, 7], kernel: 3, stride: 2)
        let input = Tensor(shape: [2, 2, 7, 7], values: GradientCheck.distinct(196, seed: 5))
        GradientCheck.check(pool, name: "MaxPool2d k3 s2", input: input)
    }

    func testAveragePoolGradients() {
        let pool = AvgPool2d(inputShape: [3, 6, 6], kernel: 2)
        let input = Tensor(shape: [2, 3, 6, 6], values: GradientCheck.randomValues(216, seed: 6))
        GradientCheck.check(pool, name: "AvgPool2d", input: input)
    }

    func testUpsampleCopiesEachPixelIntoABlockAndSumsItsGradient() {
        let upsample = Upsample2d(inputShape: [1, 2, 2], factor: 2)
        let input = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        XCTAssertEqual(upsample.forward(input, training: false).values,
                       [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        let batch = Tensor(shape: [2, 3, 3, 2], values: GradientCheck.randomValues(36, seed: 7))
        GradientCheck.check(Upsample2d(inputShape: [3, 3, 2], factor: 3), name: "Upsample2d", input: batch)
    }

    func testGlobalAveragePoolAveragesEachPlane() {
        let pool = AvgPool2d(globalOver: [2, 3, 3])
        let input = Tensor(shape: [1, 2, 3, 3], values: (0..<18).map(Float.init))
        XCTAssertEqual(pool.forward(input, training: false).values, [4, 13])
        GradientCheck.check(pool, name: "global AvgPool2d", input: input)
    }
}

final class NormalizationTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    func testBatchNormTrainingGradients() {
        let norm = BatchNorm(inputShape: [3, 4, 4])
        var rng = SeededGenerator(seed: 8)
        for i in 0..<3 { norm.gamma.value[i] = rng.nextUniform(0.5, 1.5); norm.beta.value[i] = rng.nextUniform(-0.5, 0.5) }
        let input = Tensor(shape: [4, 3, 4, 4], values: GradientCheck.randomValues(192, seed: 9, range: -2...3))
        GradientCheck.check(norm, name: "BatchNorm train", input: input)
    }

    func testBatchNormEvaluationGradients() {
        let norm = BatchNorm(inputShape: [3, 2, 2])
        for i in 0..<3 { norm.runningMean.value[i] = Float(i) * 0.3; norm.runningVariance.value[i] = 0.5 + Float(i) }
        let input = Tensor(shape: [2, 3, 2, 2], values: GradientCheck.randomValues(24, seed: 10))
        GradientCheck.check(norm, name: "BatchNorm eval", input: input, training: false)
    }

    func testBatchNormOnFeatureVectorsGradients() {
        let norm = BatchNorm(inputShape: [5])
        let input = Tensor(shape: [6, 5], values: GradientCheck.randomValues(30, seed: 12))
        GradientCheck.check(norm, name: "BatchNorm 1-D", input: input)
    }

    func testBatchNormNormalisesAndTracksRunningStatistics() {
        let norm = BatchNorm(inputShape: [1, 2, 2])
        let input = Tensor(shape: [2, 1, 2, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])
        let out = norm.forward(input, training: true).values
        let mean = out.reduce(0, +) / 8
        let variance = out.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 8
        XCTAssertEqual(mean, 0, accuracy: 1e-5)
        XCTAssertEqual(variance, 1, accuracy: 1e-3)
        XCTAssertEqual(norm.runningMean.value[0], 0.45, accuracy: 1e-5)            // 0.9·0 + 0.1·4.5
        XCTAssertEqual(norm.runningVariance.value[0], 0.9 + 0.1 * 6, accuracy: 1e-5) // unbiased variance 6
    }

    func testBatchNormStaysAccurateFarFromZero() {
        let norm = BatchNorm(inputShape: [1])
        let input = Tensor(shape: [4, 1], values: [10_000, 10_001, 10_002, 10_003])
        let out = norm.forward(input, training: true).values
        XCTAssertEqual(out[3] - out[0], 3 / Float(1.25).squareRoot(), accuracy: 1e-3)
    }
}

final class ActivationTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    func testReLUGradients() {
        let relu = ReLU(inputShape: [10])
        let input = Tensor(shape: [4, 10], values: GradientCheck.awayFromZero(40, seed: 13))
        GradientCheck.check(relu, name: "ReLU", input: input)
    }

    func testDropoutScalesSurvivorsAndPassesGradientThroughTheSameMask() {
        var rng = SeededGenerator(seed: 14)
        let dropout = Dropout(inputShape: [1000], probability: 0.3, rng: &rng)
        let input = Tensor(shape: [4, 1000], values: [Float](repeating: 2, count: 4000))
        let out = dropout.forward(input, training: true).values
        let dropped = out.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / 4000, 0.3, accuracy: 0.03)
        XCTAssertTrue(out.allSatisfy { $0 == 0 || abs($0 - 2 / 0.7) < 1e-5 })
        let gradient = dropout.backward(Tensor(shape: [4, 1000], values: [Float](repeating: 1, count: 4000))).values
        for (o, g) in zip(out, gradient) { XCTAssertEqual(g, o / 2, accuracy: 1e-6) }
        XCTAssertEqual(dropout.forward(input, training: false).values, input.values)
    }
}

final class LinearTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    func testLinearGradients() {
        var rng = SeededGenerator(seed: 15)
        let linear = Linear(inFeatures: 7, outFeatures: 5, rng: &rng)
        let input = Tensor(shape: [3, 7], values: GradientCheck.randomValues(21, seed: 16))
        GradientCheck.check(linear, name: "Linear", input: input)
    }

    func testFlattenIsAViewWithAnIdentityGradient() {
        let flatten = Flatten(inputShape: [2, 2, 2])
        let input = Tensor(shape: [2, 2, 2, 2], values: (0..<16).map(Float.init))
        let out = flatten.forward(input, training: true)
        XCTAssertEqual(out.shape, [2, 8])
        XCTAssertEqual(out.data, input.data)
        XCTAssertEqual(flatten.backward(out).shape, [2, 2, 2, 2])
    }
}

/// Residual blocks stack two batch-normalised ReLU stages, so they are checked along directions
/// (see `GradientCheck.checkDirections`); their convolutions and norms are checked per element above.
final class ResidualTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    func testIdentityShortcutBlockGradients() {
        var rng = SeededGenerator(seed: 17)
        let block = ResidualBlock(inputShape: [8, 4, 4], outChannels: 8, stride: 1, rng: &rng)
        let input = Tensor(shape: [3, 8, 4, 4], values: GradientCheck.randomValues(384, seed: 18))
        GradientCheck.checkDirections(name: "ResidualBlock identity", input: input,
                                      parameters: block.namedParameters.map(\.parameter).filter { $0.kind == .trainable },
                                      forward: { block.forward($0, training: true) }, backward: { block.backward($0) })
    }

    func testProjectionShortcutBlockGradients() {
        var rng = SeededGenerator(seed: 19)
        let block = ResidualBlock(inputShape: [4, 6, 6], outChannels: 8, stride: 2, rng: &rng)
        let input = Tensor(shape: [3, 4, 6, 6], values: GradientCheck.randomValues(432, seed: 20))
        GradientCheck.checkDirections(name: "ResidualBlock projection", input: input,
                                      parameters: block.namedParameters.map(\.parameter).filter { $0.kind == .trainable },
                                      forward: { block.forward($0, training: true) }, backward: { block.backward($0) })
    }
}
