import Engine
import Foundation

/// Label-preserving random changes to training images, applied to one batch in place:
/// a shift by up to `padding` pixels (random crop of a zero-padded image), a mirror image, and
/// with probability `erasing` a random rectangle replaced by noise (random erasing, Zhong et al.,
/// AAAI 2020: 2–33 % of the image, aspect ratio 0.3–3.3, uniform values in [0, 1]).
public struct Augmentation: Sendable, Equatable {
    public var padding: Int
    public var horizontalFlip: Bool
    public var erasing: Float

    public init(padding: Int, horizontalFlip: Bool, erasing: Float = 0) {
        precondition(erasing >= 0 && erasing <= 1, "an erasing probability lies in [0, 1]")
        self.padding = padding
        self.horizontalFlip = horizontalFlip
        self.erasing = erasing
    }

    public static let none = Augmentation(padding: 0, horizontalFlip: false)
    /// The default recipe's: shifts of up to 2 pixels and mirror images.
    public static let light = Augmentation(padding: 2, horizontalFlip: true)
    /// Shifts of up to 4 pixels, mirror images, and random erasing on half the images.
    public static let strong = Augmentation(padding: 4, horizontalFlip: true, erasing: 0.5)

    /// The presets by the names the command line uses.
    public static let presets: [(name: String, augmentation: Augmentation)] = [("none", .none), ("light", .light), ("strong", .strong)]

    public static func preset(_ name: String) -> Augmentation? { presets.first { $0.name == name }?.augmentation }

    /// Augments `count` items of `shape` (C, H, W) at `pixels`, drawing from `seed`.
    public func apply(to pixels: UnsafeMutablePointer<Float>, count: Int, shape: [Int], seed: UInt64) {
        guard padding > 0 || horizontalFlip || erasing > 0 else { return }
        let (channels, height, width) = (shape[0], shape[1], shape[2])
        let itemSize = channels * height * width
        var scratch = [Float](repeating: 0, count: itemSize)
        var rng = SeededGenerator(seed: seed)
        scratch.withUnsafeMutableBufferPointer { copy in
            for n in 0..<count {
                let item = pixels + n * itemSize
                let dy = padding > 0 ? Int(rng.next() % UInt64(2 * padding + 1)) - padding : 0
                let dx = padding > 0 ? Int(rng.next() % UInt64(2 * padding + 1)) - padding : 0
                let flip = horizontalFlip && rng.next() & 1 == 1
                if erasing > 0 && rng.nextUnitFloat() < erasing { erase(item, channels: channels, height: height, width: width, rng: &rng) }
                if dy == 0 && dx == 0 && !flip { continue }
                copy.baseAddress!.update(from: item, count: itemSize)
                for c in 0..<channels {
                    for y in 0..<height {
                        let sy = y + dy
                        for x in 0..<width {
                            let sx = (flip ? width - 1 - x : x) + dx
                            item[(c * height + y) * width + x] = sy >= 0 && sy < height && sx >= 0 && sx < width
                                ? copy[(c * height + sy) * width + sx] : 0
                        }
                    }
                }
            }
        }
    }

    /// Replaces one random rectangle of the item by uniform noise; gives up after ten boxes that
    /// do not fit, as Zhong et al.'s reference code does.
    private func erase(_ item: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int, rng: inout SeededGenerator) {
        for _ in 0..<10 {
            let area = rng.nextUniform(0.02, 0.33) * Float(height * width)
            let aspect = Foundation.exp(rng.nextUniform(Foundation.log(0.3), Foundation.log(3.3)))
            let h = Int((area * aspect).squareRoot().rounded()), w = Int((area / aspect).squareRoot().rounded())
            guard h >= 1, w >= 1, h < height, w < width else { continue }
            let top = Int(rng.next() % UInt64(height - h + 1)), left = Int(rng.next() % UInt64(width - w + 1))
            for c in 0..<channels {
                for y in top..<(top + h) {
                    for x in left..<(left + w) { item[(c * height + y) * width + x] = rng.nextUnitFloat() }
                }
            }
            return
        }
    }
}
