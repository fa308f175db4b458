import XCTest
@testable import Engine

final class OptimizerTests: XCTestCase {
    private func store(_ values: [Float], gradients: [Float]) -> ParameterStore {
        let parameter = Parameter(shape: [values.count], initial: values)
        let store = ParameterStore([parameter])
        store.setGradients(gradients)
        return store
    }

    func testSGDMomentumNesterovAndWeightDecayFollowPyTorch() {
        // PyTorch: g = 0.5 + 0.1·1 = 0.6; v = 0.6; Nesterov step uses g + 0.9·v = 1.14.
        let plain = store([1], gradients: [0.5])
        SGD(momentum: 0.9, nesterov: true, weightDecay: 0.1).step(plain, learningRate: 0.1)
        XCTAssertEqual(plain.values[0], 1 - 0.1 * 1.14, accuracy: 1e-6)

        let s = store([1], gradients: [0.5])
        let sgd = SGD(momentum: 0.9)
        sgd.step(s, learningRate: 0.1)   // v = 0.5, w = 0.95
        sgd.step(s, learningRate: 0.1)   // v = 0.95, w = 0.855
        XCTAssertEqual(s.values[0], 0.855, accuracy: 1e-6)
    }

    func testAdamAndAdamWSteps() {
        // First Adam step moves each weight by lr·sign(g) (bias-corrected m/√v = ±1).
        let a = store([1, -1], gradients: [0.3, -2])
        Adam().step(a, learningRate: 0.01)
        XCTAssertEqual(a.values[0], 0.99, accuracy: 1e-5)
        XCTAssertEqual(a.values[1], -0.99, accuracy: 1e-5)

        let w = store([2], gradients: [0])
        Adam(weightDecay: 0.5, decoupled: true).step(w, learningRate: 0.1)
        XCTAssertEqual(w.values[0], 2 - 0.1 * 0.5 * 2, accuracy: 1e-6)
    }

    func testSchedules() {
        XCTAssertEqual(LearningRateSchedule.step(base: 1, every: 10, factor: 0.5).rate(atEpoch: 25, totalEpochs: 30), 0.25)
        let cosine = LearningRateSchedule.cosine(base: 0.1, minimum: 0, warmupEpochs: 0)
        XCTAssertEqual(cosine.rate(atEpoch: 0, totalEpochs: 10), 0.1, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(atEpoch: 5, totalEpochs: 10), 0.05, accuracy: 1e-7)
        XCTAssertEqual(cosine.rate(atEpoch: 10, totalEpochs: 10), 0, accuracy: 1e-7)
        let warm = LearningRateSchedule.cosine(base: 0.1, minimum: 0.01, warmupEpochs: 1)
        XCTAssertLessThan(warm.rate(atEpoch: 0.5, totalEpochs: 10), 0.06)
    }
}
