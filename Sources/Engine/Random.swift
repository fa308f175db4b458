import Foundation

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64), so that the same
/// seed gives the same weights, shuffles and dropout masks on every machine.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 bits of randomness, the resolution of a Float.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    public mutating func nextUniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUnitFloat()
    }

    /// A new generator whose stream is independent of this one's continuation.
    public mutating func fork() -> SeededGenerator { SeededGenerator(seed: next()) }

    /// A standard normal draw by Box–Muller from two uniforms (the first kept off 0, where the
    /// logarithm diverges).
    public mutating func nextGaussian() -> Float {
        let u = Swift.max(nextUnitFloat(), 1e-7), v = nextUnitFloat()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Float.pi * v)
    }

    /// Adds Gaussian noise of standard deviation `sigma` to every pixel, clipping to [0, 1]: a
    /// suspect that perturbs its inputs.
    public mutating func addGaussianNoise(sigma: Float, toPixels pixels: inout [Float]) {
        for i in pixels.indices { pixels[i] = Swift.min(Swift.max(pixels[i] + sigma * nextGaussian(), 0), 1) }
    }

    /// A Gamma(shape, 1) draw: Marsaglia and Tsang's squeeze method (ACM TOMS 26(3), 2000) for
    /// shape ≥ 1; below 1 the boost Gamma(shape) = Gamma(shape + 1) · U^(1/shape).
    public mutating func nextGamma(shape: Float) -> Float {
        precondition(shape > 0, "a Gamma shape must be positive")
        if shape < 1 { return nextGamma(shape: shape + 1) * Foundation.pow(Swift.max(nextUnitFloat(), 1e-30), 1 / shape) }
        let d = shape - 1 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = nextGaussian(), v = 1 + c * x
            guard v > 0 else { continue }
            let cube = v * v * v, u = Swift.max(nextUnitFloat(), 1e-30)
            if Foundation.log(u) < x * x / 2 + d - d * cube + d * Foundation.log(cube) { return d * cube }
        }
    }

    /// A Beta(a, b) draw as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
    public mutating func nextBeta(_ a: Float, _ b: Float) -> Float {
        let x = nextGamma(shape: a), y = nextGamma(shape: b)
        return x + y > 0 ? x / (x + y) : 0.5
    }
}
