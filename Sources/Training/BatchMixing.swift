import Engine

/// Mixup (Zhang et al., ICLR 2018) and CutMix (Yun et al., ICCV 2019) on one batch. Each image is
/// paired with another of the batch (a seeded permutation) and λ ~ Beta(α, α): mixup blends the
/// whole images, λ·x_i + (1 − λ)·x_j; CutMix pastes a box of x_j covering about 1 − λ of the
/// image, and λ is then recomputed from the box as clipped by the border. The target rows mix
/// with the same λ, so each still sums to 1. With both on, each batch picks one at random, as
/// timm does.
public struct BatchMixing: Sendable, Equatable {
    public var mixupAlpha: Float
    public var cutmixAlpha: Float

    public init(mixupAlpha: Float, cutmixAlpha: Float) {
        precondition(mixupAlpha >= 0 && cutmixAlpha >= 0, "Beta parameters are never negative")
        self.mixupAlpha = mixupAlpha
        self.cutmixAlpha = cutmixAlpha
    }

    public var isActive: Bool { mixupAlpha > 0 || cutmixAlpha > 0 }

    public enum Kind: Sendable, Equatable { case mixup, cutmix }

    /// What one batch drew: the share λ of each image's own target, its partner per row, and
    /// CutMix's pasted box (rows `top..<top+height`, columns `left..<left+width`).
    public struct Draw: Sendable {
        public var kind: Kind
        public var lambda: Float
        public var partners: [Int]
        public var box: (top: Int, left: Int, height: Int, width: Int)?
    }

    /// Mixes `count` raw items of `shape` (C, H, W) at `pixels`, and their target rows
    /// (`count` × classes) in `targets`, in place, drawing from `seed`.
    @discardableResult
    public func apply(to pixels: UnsafeMutablePointer<Float>, targets: Tensor, count: Int, shape: [Int], seed: UInt64) -> Draw {
        precondition(isActive, "no mixing configured")
        precondition(targets.batch == count, "one target row per item")
        var rng = SeededGenerator(seed: seed)
        let kind: Kind = mixupAlpha > 0 && cutmixAlpha > 0 ? (rng.next() & 1 == 0 ? .mixup : .cutmix) : (mixupAlpha > 0 ? .mixup : .cutmix)
        let alpha = kind == .mixup ? mixupAlpha : cutmixAlpha
        var lambda = rng.nextBeta(alpha, alpha)
        var partners = Array(0..<count)
        partners.shuffle(using: &rng)
        let (channels, height, width) = (shape[0], shape[1], shape[2])
        let itemSize = channels * height * width
        let original = Array(UnsafeBufferPointer(start: pixels, count: count * itemSize))
        var box: (top: Int, left: Int, height: Int, width: Int)?
        switch kind {
        case .mixup:
            for n in 0..<count {
                let own = n * itemSize, other = partners[n] * itemSize
                for i in 0..<itemSize { pixels[own + i] = lambda * original[own + i] + (1 - lambda) * original[other + i] }
            }
        case .cutmix:
            // A box with sides √(1 − λ) of the image's around a uniform centre, clipped to the image.
            let ratio = (1 - lambda).squareRoot()
            let cutHeight = Int(Float(height) * ratio), cutWidth = Int(Float(width) * ratio)
            let cy = Int(rng.next() % UInt64(height)), cx = Int(rng.next() % UInt64(width))
            let top = Swift.max(cy - cutHeight / 2, 0), bottom = Swift.min(cy + cutHeight / 2, height)
            let left = Swift.max(cx - cutWidth / 2, 0), right = Swift.min(cx + cutWidth / 2, width)
            box = (top, left, bottom - top, right - left)
            lambda = 1 - Float((bottom - top) * (right - left)) / Float(height * width)
            for n in 0..<count {
                let own = n * itemSize, other = partners[n] * itemSize
                for c in 0..<channels {
                    for y in top..<bottom {
                        for x in left..<right {
                            let i = (c * height + y) * width + x
                            pixels[own + i] = original[other + i]
                        }
                    }
                }
            }
        }
        let classes = targets.itemCount
        let rows = Array(UnsafeBufferPointer(start: targets.data, count: count * classes))
        for n in 0..<count {
            for k in 0..<classes {
                targets.data[n * classes + k] = lambda * rows[n * classes + k] + (1 - lambda) * rows[partners[n] * classes + k]
            }
        }
        return Draw(kind: kind, lambda: lambda, partners: partners, box: box)
    }
}
