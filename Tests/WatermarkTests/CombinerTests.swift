import Engine
import XCTest
@testable import Watermark

final class CombinerTests: XCTestCase {
    let shape = [1, 8, 8]

    /// Two images whose pixel values never coincide, so every output pixel names its origin.
    func sources() -> ([Float], [Float]) {
        ((0..<64).map { Float($0) / 200 }, (0..<64).map { 0.5 + Float($0) / 200 })
    }

    func combine(_ combiner: Combiner, seed: UInt64 = 1) -> [Float] {
        let (a, b) = sources()
        var out = [Float](repeating: -1, count: 64)
        var rng = SeededGenerator(seed: seed)
        combiner.combine(a, b, into: &out, shape: shape, rng: &rng)
        return out
    }

    static let all: [Combiner] = [
        .cropPaste(CropPaste(region: .bottom, fraction: 0.5, jitter: 2, swapsSources: true)),
        .cropPaste(CropPaste(region: .topLeft, fraction: 0.5, rotation: 180)),
        .cropPaste(CropPaste(region: .right, fraction: 0.25, rotation: 90)),
        .pixelMerge(PixelMerge(ratio: 0.3)),
        .stripes(Stripes(orientation: .vertical, pattern: [true, false, false, true])),
        .stripes(.alternating(.horizontal, count: 4)),
    ]

    func testPixelCombinersOnlyTakePixelsFromTheSources() {
        let (a, b) = sources()
        for combiner in Self.all {
            for seed: UInt64 in 1...5 {
                let out = combine(combiner, seed: seed)
                for (i, value) in out.enumerated() {
                    switch combiner {
                    case .pixelMerge(let merge):
                        XCTAssertEqual(value, Float(merge.ratio) * a[i] + Float(1 - merge.ratio) * b[i], accuracy: 1e-6)
                    case .stripes:
                        XCTAssertTrue(value == a[i] || value == b[i], "\(combiner.summary): pixel \(i) is from neither source")
                    case .cropPaste:
                        // Rotation moves pixels, so a pasted pixel may come from anywhere in the other image.
                        XCTAssertTrue(a.contains(value) || b.contains(value), "\(combiner.summary): pixel \(i) is from neither source")
                    case .autoencoderBlend:
                        XCTFail("the autoencoder blend is not a pixel-level combiner")
                    }
                }
                XCTAssertTrue(out.contains { a.contains($0) } || combiner.kind == "pixel-merge")
                XCTAssertTrue(out.contains { b.contains($0) } || combiner.kind == "pixel-merge")
            }
        }
    }

    func testDifferentParametersGiveDifferentOutputs() {
        let outputs = Self.all.map { combine($0) }
        for i in outputs.indices {
            for j in outputs.indices where j > i {
                XCTAssertNotEqual(outputs[i], outputs[j], "\(Self.all[i].summary) and \(Self.all[j].summary) agree")
            }
        }
        XCTAssertNotEqual(combine(.pixelMerge(PixelMerge(ratio: 0.3))), combine(.pixelMerge(PixelMerge(ratio: 0.6))))
    }

    func testSameSeedSameSampleAndJitterVariesWithTheSeed() {
        let jittered = Combiner.cropPaste(CropPaste(region: .bottom, fraction: 0.5, jitter: 3, swapsSources: true))
        XCTAssertEqual(combine(jittered, seed: 7), combine(jittered, seed: 7))
        XCTAssertTrue(Set((1...20).map { combine(jittered, seed: $0) }).count > 3)
    }

    func testBottomHalfPasteGeometry() {
        let (a, b) = sources()
        let out = combine(.cropPaste(CropPaste(region: .bottom, fraction: 0.5)))
        XCTAssertEqual(Array(out[0..<32]), Array(a[0..<32]))
        XCTAssertEqual(Array(out[32..<64]), Array(b[32..<64]))
    }

    func testCombinersRoundTripThroughJSON() throws {
        for combiner in Self.all {
            let data = try JSONEncoder().encode(combiner)
            XCTAssertEqual(try JSONDecoder().decode(Combiner.self, from: data), combiner)
            XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"kind\":\"\(combiner.kind)\""))
        }
        XCTAssertThrowsError(try JSONDecoder().decode(Combiner.self, from: Data(#"{"kind":"warp"}"#.utf8)))
    }
}
