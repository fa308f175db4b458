/// Sums over Float buffers with sixteen independent partial sums. A single running sum is one long
/// chain of dependent additions, which the compiler may not reorder (float addition is not
/// associative) and so cannot vectorise: 4+ cycles per element instead of a fraction of one.

@inline(__always) private func load16(_ pointer: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Float>.self)
}

/// Σ (x − shift) and Σ (x − shift)².
@inline(__always)
func shiftedSums(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> (sum: Float, squares: Float) {
    var sums = SIMD16<Float>(), squares = SIMD16<Float>()
    let shifts = SIMD16<Float>(repeating: shift)
    var i = 0
    while i + 16 <= count {
        let d = load16(x + i) - shifts
        sums += d
        squares += d * d
        i += 16
    }
    var sum = sums.sum(), square = squares.sum()
    while i < count {
        let d = x[i] - shift
        sum += d
        square += d * d
        i += 1
    }
    return (sum, square)
}

/// Σ dy and Σ dy·(x − mean)·scale, the two sums batch normalisation's backward pass needs.
@inline(__always)
func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float, scale: Float) -> (sum: Float, dot: Float) {
    var sums = SIMD16<Float>(), dots = SIMD16<Float>()
    let means = SIMD16<Float>(repeating: mean)
    var i = 0
    while i + 16 <= count {
        let g = load16(dy + i)
        sums += g
        dots += g * (load16(x + i) - means)
        i += 16
    }
    var sum = sums.sum(), dot = dots.sum()
    while i < count {
        sum += dy[i]
        dot += dy[i] * (x[i] - mean)
        i += 1
    }
    return (sum, dot * scale)
}

/// Σ x.
@inline(__always)
func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var sums = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        sums += load16(x + i)
        i += 16
    }
    var total = sums.sum()
    while i < count {
        total += x[i]
        i += 1
    }
    return total
}
