import XCTest
@testable import Watermark

final class MinNormSolverTests: XCTestCase {
    func gram(_ vectors: [[Double]]) -> [[Double]] {
        vectors.map { a in vectors.map { b in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } } }
    }

    func norm(_ weights: [Double], _ vectors: [[Double]]) -> Double {
        let combined = (0..<vectors[0].count).map { i in zip(weights, vectors).reduce(0) { $0 + $1.0 * $1.1[i] } }
        return combined.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    func testTwoTaskClosedForm() {
        // Orthogonal unit vectors: the min-norm point is the midpoint.
        XCTAssertEqual(MinNormSolver.twoTask(gram([[1, 0], [0, 1]]))[0], 0.5, accuracy: 1e-12)
        // One gradient inside the other's direction and shorter: all weight on the shorter one.
        XCTAssertEqual(MinNormSolver.twoTask(gram([[1, 0], [3, 0]])), [1, 0])
        // Opposite gradients of different lengths: a mix that cancels exactly.
        let w = MinNormSolver.twoTask(gram([[2, 0], [-1, 0]]))
        XCTAssertEqual(norm(w, [[2, 0], [-1, 0]]), 0, accuracy: 1e-12)
    }

    func testFrankWolfeFindsTheMinimumNormPointOnRandomProblems() {
        var seed: UInt64 = 12345
        func next() -> Double { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Double(seed >> 11) / Double(1 << 53) - 0.5 }
        for _ in 0..<20 {
            let vectors = (0..<4).map { _ in (0..<6).map { _ in next() } }
            let weights = MinNormSolver.frankWolfe(gram(vectors), iterations: 2000, tolerance: 1e-10)
            XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-9)
            XCTAssertTrue(weights.allSatisfy { $0 >= -1e-12 })
            let best = norm(weights, vectors)
            // No simplex point sampled on a grid beats it by more than the solver's tolerance.
            for i in 0...10 { for j in 0...(10 - i) { for k in 0...(10 - i - j) {
                let l = 10 - i - j - k
                let candidate = [i, j, k, l].map { Double($0) / 10 }
                XCTAssertLessThanOrEqual(best, norm(candidate, vectors) + 1e-4)
            } } }
        }
    }

    func testFloorKeepsTheTasksShareAndMinimisesOverTheShrunkHull() {
        let vectors: [[Double]] = [[4, 0, 0], [0, 1, 0], [0, 0, 0.5], [0.2, 0.3, -0.1]]
        let weights = MinNormSolver.frankWolfe(gram(vectors), floor: (task: 0, share: 0.5), iterations: 5000, tolerance: 1e-12)
        XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-9)
        XCTAssertGreaterThanOrEqual(weights[0], 0.5 - 1e-12)
        let best = norm(weights, vectors)
        for i in 0...10 { for j in 0...(10 - i) { for k in 0...(10 - i - j) {
            let l = 10 - i - j - k
            let beta = [i, j, k, l].map { Double($0) / 10 }
            let candidate = beta.enumerated().map { ($0.offset == 0 ? 0.5 : 0) + 0.5 * $0.element }
            XCTAssertLessThanOrEqual(best, norm(candidate, vectors) + 1e-4)
        } } }
        // Without the floor the largest gradient gets the least weight: why the floor exists.
        XCTAssertLessThan(MinNormSolver.frankWolfe(gram(vectors))[0], 0.1)
    }
}
