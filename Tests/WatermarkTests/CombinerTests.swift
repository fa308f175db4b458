import Engine
import XCTest
@testable import Watermark

final class CombinerTests: XCTestCase {
    let shape = [1, 8, 8]

    /// Two images whose pixel values never coincide, so every output pixel names its origin.
    func sources() -> ([Float], [Float]) {
        ((0..<64).map { Float($0) / 200 }, (0..<64).map { 0.5 + Float($0) / 200 })
    }

    func combine(_ combiner: Combiner, seed: UInt64 = 1) throws -> [Float] {
        let (a, b) = sources()
        var out = [Float](repeating: -1, count: 64)
        var rng = SeededGenerator(seed: seed)
        try combiner.combine(a, b, into: &out, shape: shape, rng: &rng)
        return out
    }

    static let all: [Combiner] = try! [
        .cropPaste(CropPaste(region: .bottom, fraction: 0.5, jitter: 2, swapsSources: true)),
        .cropPaste(CropPaste(region: .topLeft, fraction: 0.5, rotation: 180)),
        .cropPaste(CropPaste(region: .right, fraction: 0.25, rotation: 90)),
        .pixelMerge(PixelMerge(ratio: 0.3)),
        .stripes(Stripes(orientation: .vertical, pattern: [true, false, false, true])),
        .stripes(.alternating(.horizontal, count: 4)),
    ]

    func testPixelCombinersOnlyTakePixelsFromTheSources() throws {
        let (a, b) = sources()
        for combiner in Self.all {
            for seed: UInt64 in 1...5 {
                let out = try combine(combiner, seed: seed)
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

    func testDifferentParametersGiveDifferentOutputs() throws {
        let outputs = try Self.all.map { try combine($0) }
        for i in outputs.indices {
            for j in outputs.indices where j > i {
                XCTAssertNotEqual(outputs[i], outputs[j], "\(Self.all[i].summary) and \(Self.all[j].summary) agree")
            }
        }
        XCTAssertNotEqual(try combine(.pixelMerge(PixelMerge(ratio: 0.3))), try combine(.pixelMerge(PixelMerge(ratio: 0.6))))
    }

    func testSameSeedSameSampleAndJitterVariesWithTheSeed() throws {
        let jittered = Combiner.cropPaste(try CropPaste(region: .bottom, fraction: 0.5, jitter: 3, swapsSources: true))
        XCTAssertEqual(try combine(jittered, seed: 7), try combine(jittered, seed: 7))
        XCTAssertTrue(Set(try (1...20).map { try combine(jittered, seed: $0) }).count > 3)
    }

    func testBottomHalfPasteGeometry() throws {
        let (a, b) = sources()
        let out = try combine(.cropPaste(CropPaste(region: .bottom, fraction: 0.5)))
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

    /// The validating initialisers the decoders use refuse what used to be preconditions (or
    /// nothing at all): each is a typed error, never a trap.
    func testParametersOutOfRangeAreTypedErrors() {
        let refused: [() throws -> Any] = [
            { try CropPaste(region: .bottom, fraction: -1) }, { try CropPaste(region: .bottom, fraction: .nan) },
            { try CropPaste(region: .bottom, fraction: 1) }, { try CropPaste(region: .bottom, jitter: 65) },
            { try CropPaste(region: .bottom, jitter: -1) }, { try CropPaste(region: .bottom, rotation: 1 << 62) },
            { try PixelMerge(ratio: 500) }, { try PixelMerge(ratio: .infinity) }, { try PixelMerge(ratio: 0) },
            { try Stripes(orientation: .vertical, pattern: [true]) }, { try Stripes(orientation: .vertical, pattern: [false, false]) },
            { try Stripes.alternating(.horizontal, count: 257) },
            { try AutoencoderBlend(ratio: 0.5, autoencoderDigest: "../autoencoder") },
            { try AutoencoderBlend(ratio: 1.5, autoencoderDigest: String(repeating: "a", count: 64)) },
            { try ContentTrigger(x: -1, y: 0, size: 2, pattern: [true, false, true, false]) },
            { try ContentTrigger(x: 0, y: 0, size: 0, pattern: []) },
            { try ContentTrigger(x: 0, y: 0, size: 28, pattern: [true]) },
        ]
        for (index, make) in refused.enumerated() {
            XCTAssertThrowsError(try make(), "case \(index)") { error in
                guard case WatermarkError.invalid = error else { return XCTFail("case \(index): \(error)") }
            }
        }
    }

    /// Combining and stamping check the item shape they are given: a shape that does not hold
    /// the patch, or is no (C, H, W) shape at all, is an error rather than a write outside `out`.
    func testAShapeThatDoesNotFitIsAnErrorNotAnOutOfBoundsAccess() throws {
        let (a, b) = sources()
        var out = [Float](repeating: -1, count: 64), rng = SeededGenerator(seed: 1)
        for shape in [[8, 8], [1, 0, 64], [1, 8, -8], [Int.max, 2, 2], [1, 8, 8, 1]] {
            XCTAssertThrowsError(try Self.all[0].combine(a, b, into: &out, shape: shape, rng: &rng), "\(shape)")
        }
        let patch = try ContentTrigger(x: 5, y: 0, size: 4, pattern: [Bool](repeating: true, count: 16))
        XCTAssertThrowsError(try patch.stamp(a, into: &out, shape: shape)) { XCTAssertTrue("\($0)".contains("does not fit"), "\($0)") }
        XCTAssertThrowsError(try patch.stamp(a, into: &out, shape: [1, 8]))
        XCTAssertEqual(out, [Float](repeating: -1, count: 64), "nothing was written")
        try patch.stamp(a, into: &out, shape: [1, 4, 16])
        XCTAssertEqual(out.filter { $0 == 1 }.count, 16)
    }
}
