import Engine
import XCTest
@testable import Training

final class BatchMixingTests: XCTestCase {
    /// Four 1×8×8 images, image n filled with n + 1, labelled n (one-hot targets).
    private func batch() -> (pixels: [Float], targets: Tensor) {
        let pixels = (0..<4).flatMap { n in [Float](repeating: Float(n + 1), count: 64) }
        let targets = Tensor(shape: [0])
        LabelSmoothing.targets(labels: [0, 1, 2, 3], classes: 4, epsilon: 0, into: targets)
        return (pixels, targets)
    }

    private func assertRowsSumToOne(_ targets: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        for n in 0..<targets.batch {
            XCTAssertEqual((0..<4).map { targets.values[n * 4 + $0] }.reduce(0, +), 1, accuracy: 1e-6, file: file, line: line)
        }
    }

    func testMixupBlendsImagesAndTargetsWithOneLambda() {
        for seed: UInt64 in 1...5 {
            var (pixels, targets) = batch()
            let draw = BatchMixing(mixupAlpha: 0.4, cutmixAlpha: 0).apply(to: &pixels, targets: targets, count: 4, shape: [1, 8, 8], seed: seed)
            XCTAssertEqual(draw.kind, .mixup)
            XCTAssertNil(draw.box)
            assertRowsSumToOne(targets)
            for n in 0..<4 {
                let partner = draw.partners[n]
                let expected = draw.lambda * Float(n + 1) + (1 - draw.lambda) * Float(partner + 1)
                XCTAssertTrue(pixels[(n * 64)..<(n * 64 + 64)].allSatisfy { abs($0 - expected) < 1e-5 })
                if partner != n { XCTAssertEqual(targets.values[n * 4 + n], draw.lambda, accuracy: 1e-6) }
            }
        }
    }

    /// The pasted box covers exactly 1 − λ of every image whose partner is another image, and
    /// the targets carry that λ.
    func testCutMixBoxAreaMatchesLambda() throws {
        for seed: UInt64 in 1...8 {
            var (pixels, targets) = batch()
            let draw = BatchMixing(mixupAlpha: 0, cutmixAlpha: 1).apply(to: &pixels, targets: targets, count: 4, shape: [1, 8, 8], seed: seed)
            XCTAssertEqual(draw.kind, .cutmix)
            let box = try XCTUnwrap(draw.box)
            XCTAssertEqual(1 - draw.lambda, Float(box.height * box.width) / 64, accuracy: 1e-6)
            assertRowsSumToOne(targets)
            for n in 0..<4 where draw.partners[n] != n {
                let pasted = pixels[(n * 64)..<(n * 64 + 64)].filter { $0 == Float(draw.partners[n] + 1) }.count
                XCTAssertEqual(pasted, box.height * box.width)
                XCTAssertEqual(targets.values[n * 4 + n], draw.lambda, accuracy: 1e-6)
                XCTAssertEqual(targets.values[n * 4 + draw.partners[n]], 1 - draw.lambda, accuracy: 1e-6)
            }
        }
    }

    func testBothOnPicksEachKindAndTheSameSeedDrawsTheSame() {
        let mixing = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1)
        var kinds: Set<String> = []
        for seed: UInt64 in 1...16 {
            var (first, targets) = batch()
            var (second, again) = batch()
            let a = mixing.apply(to: &first, targets: targets, count: 4, shape: [1, 8, 8], seed: seed)
            let b = mixing.apply(to: &second, targets: again, count: 4, shape: [1, 8, 8], seed: seed)
            XCTAssertEqual(first, second)
            XCTAssertEqual(targets.values, again.values)
            XCTAssertEqual(a.partners, b.partners)
            kinds.insert("\(a.kind)")
        }
        XCTAssertEqual(kinds, ["mixup", "cutmix"])
    }
}
