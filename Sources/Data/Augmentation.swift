import Engine

/// Label-preserving random changes to training images, applied to one batch in place:
/// a shift by up to `padding` pixels (random crop of a zero-padded image) and a mirror image.
public struct Augmentation: Sendable, Equatable {
    public var padding: Int
    public var horizontalFlip: Bool

    public init(padding: Int, horizontalFlip: Bool) {
        self.padding = padding
        self.horizontalFlip = horizontalFlip
    }

    public static let none = Augmentation(padding: 0, horizontalFlip: false)

    /// Augments `count` items of `shape` (C, H, W) at `pixels`, drawing from `seed`.
    public func apply(to pixels: UnsafeMutablePointer<Float>, count: Int, shape: [Int], seed: UInt64) {
        guard padding > 0 || horizontalFlip else { return }
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
}
