import XCTest
@testable import Engine

/// The seeded distributions training draws from, checked by their moments over many draws
/// (tolerances are several standard errors wide, and the draws are seeded, so the test is stable).
final class RandomTests: XCTestCase {
    func testGaussianHasMeanZeroAndUnitVariance() {
        var rng = SeededGenerator(seed: 1)
        let draws = (0..<50_000).map { _ in Double(rng.nextGaussian()) }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.03)
    }

    /// Gamma(k) has mean and variance k; Beta(α, α) has mean ½ and variance 1 / (4(2α + 1)).
    func testGammaAndBetaMatchTheirMoments() {
        var rng = SeededGenerator(seed: 2)
        for shape: Float in [0.4, 1, 3.5] {
            let draws = (0..<40_000).map { _ in Double(rng.nextGamma(shape: shape)) }
            let mean = draws.reduce(0, +) / Double(draws.count)
            let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
            XCTAssertEqual(mean, Double(shape), accuracy: 0.05 * Double(shape) + 0.01, "Gamma(\(shape)) mean")
            XCTAssertEqual(variance, Double(shape), accuracy: 0.1 * Double(shape) + 0.02, "Gamma(\(shape)) variance")
        }
        for alpha: Float in [0.2, 1, 4] {
            let draws = (0..<40_000).map { _ in Double(rng.nextBeta(alpha, alpha)) }
            XCTAssertTrue(draws.allSatisfy { $0 >= 0 && $0 <= 1 })
            let mean = draws.reduce(0, +) / Double(draws.count)
            let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
            XCTAssertEqual(mean, 0.5, accuracy: 0.01, "Beta(\(alpha)) mean")
            XCTAssertEqual(variance, 1 / (4 * (2 * Double(alpha) + 1)), accuracy: 0.005, "Beta(\(alpha)) variance")
        }
    }
}
