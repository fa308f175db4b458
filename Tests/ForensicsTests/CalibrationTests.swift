import XCTest
@testable import Forensics

final class CalibrationTests: XCTestCase {
    func calibration(otherPairs: [Calibration.OtherPair]?) -> Calibration {
        Calibration(specSha256: String(repeating: "cd", count: 32), created: "2026-11-28T19:00:00Z", confidence: 0.95, references: [],
                    falseWatermarks: [], watermarkedWsr: 0.97, otherPairs: otherPairs)
    }

    func testDecoyPairsAreThoseTheWatermarkedModelRarelyAnswersTheTargetOn() throws {
        let rates: [([Int], Double)] = [([0, 3], 0.53), ([0, 5], 0.03), ([3, 7], 0.10), ([1, 4], 0.94), ([7, 9], 0), ([4, 8], 0.105)]
        let measured = calibration(otherPairs: rates.map { Calibration.OtherPair(sources: $0.0, samples: 200, watermarkedRate: $0.1) })
        XCTAssertEqual(measured.decoyPairs, [[0, 5], [3, 7], [7, 9]])
        XCTAssertEqual(try Calibration.decode(try measured.encoded()), measured, "the choice travels in the signed calibration")
        XCTAssertNil(calibration(otherPairs: [.init(sources: [0, 3], samples: 200, watermarkedRate: 0.5)]).decoyPairs,
                     "no quiet pair: the probe falls back to every other pair and the other ways")
        XCTAssertNil(calibration(otherPairs: nil).decoyPairs, "no watermarked model measured")
    }
}
