import XCTest
@testable import Engine

/// Finite-difference gradient checks.
///
/// The probe loss is L = Σ out ⊙ R for a fixed random R, so dL/dout = R. Each checked element is
/// moved by ±ε (ε = 1e-2 for single layers) and the central difference (L⁺ − L⁻)/2ε, summed in
/// Double, is compared with the analytic gradient. Tolerance: |analytic − numeric| ≤
/// 1e-2 · max(1, |numeric|), which Float32 rounding of a loss of size ~10 (≈ 1e-6 / 2ε ≈ 1e-4) and
/// the O(ε²) truncation error of smooth layers stay well inside, while a wrong term or a missing
/// factor does not.
enum GradientCheck {
    static let tolerance: Double = 1e-2

    static func randomValues(_ count: Int, seed: UInt64, range: ClosedRange<Float> = -1...1) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in rng.nextUniform(range.lowerBound, range.upperBound) }
    }

    /// Values in ±[0.1, 1] with random signs: away from ReLU's kink at 0.
    static func awayFromZero(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (rng.nextUnitFloat() < 0.5 ? -1 : 1) * rng.nextUniform(0.1, 1) }
    }

    /// Distinct values 0.05 apart in random order, so a ±ε move never changes which is largest.
    static func distinct(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).shuffled(using: &rng).map { Float($0) * 0.05 - Float(count) * 0.025 }
    }

    /// Checks dL/dinput (when the layer computes it) and dL/dθ for every trainable parameter of
    /// `forward`/`backward`, on up to `samples` elements of each.
    static func check(name: String, input: Tensor, parameters: [(String, Parameter)], samples: Int = 48,
                      training: Bool = true, checkInput: Bool = true,
                      forward: (Tensor) -> Tensor, backward: (Tensor) -> Tensor,
                      file: StaticString = #filePath, line: UInt = #line) {
        let epsilon: Float = 1e-2
        let output = forward(input)
        let weights = randomValues(output.count, seed: 99)
        let outputGradient = Tensor(shape: output.shape, values: weights)
        for (_, parameter) in parameters where parameter.kind == .trainable {
            parameter.gradient.update(repeating: 0, count: parameter.count)
        }
        let inputGradient = backward(outputGradient).values
        let trainable = parameters.filter { $0.1.kind == .trainable }
        let parameterGradients = trainable.map { Array(UnsafeBufferPointer(start: $0.1.gradient, count: $0.1.count)) }

        func loss() -> Double {
            let out = forward(input)
            var total: Double = 0
            for i in 0..<out.count { total += Double(out[i]) * Double(weights[i]) }
            return total
        }
        func numeric(_ pointer: UnsafeMutablePointer<Float>) -> Double {
            let saved = pointer.pointee
            pointer.pointee = saved + epsilon
            let plus = loss()
            pointer.pointee = saved - epsilon
            let minus = loss()
            pointer.pointee = saved
            return (plus - minus) / (2 * Double(epsilon))
        }
        func indices(_ count: Int) -> [Int] {
            count <= samples ? Array(0..<count) : (0..<samples).map { ($0 * 7919 + 13) % count }
        }
        func compare(_ what: String, analytic: Float, numeric: Double) {
            let error = abs(Double(analytic) - numeric)
            XCTAssert(error <= tolerance * max(1, abs(numeric)),
                      "\(name) \(what): analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
        }
        if checkInput {
            for i in indices(input.count) {
                compare("d input[\(i)]", analytic: inputGradient[i], numeric: numeric(input.data + i))
            }
        }
        for ((label, parameter), gradient) in zip(trainable, parameterGradients) {
            for i in indices(parameter.count) {
                compare("d \(label)[\(i)]", analytic: gradient[i], numeric: numeric(parameter.value + i))
            }
        }
    }

    static func check(_ layer: Layer, name: String, input: Tensor, training: Bool = true, samples: Int = 48,
                      file: StaticString = #filePath, line: UInt = #line) {
        check(name: name, input: input, parameters: layer.namedParameters.map { ($0.name, $0.parameter) },
              samples: samples, training: training, checkInput: layer.computesInputGradient,
              forward: { layer.forward($0, training: training) }, backward: { layer.backward($0) },
              file: file, line: line)
    }

    /// Finite differences along random unit directions v over all `parameters` and the input:
    /// (L(θ+εv) − L(θ−εv)) / 2ε must match ∇L·v within 1 %. Used where per-element checks are
    /// ill-conditioned: a stack of batch-normalised ReLU layers is only piecewise smooth, and
    /// max-pool windows of post-ReLU zeros tie, so a step must be small enough (ε = 1e-3) to flip
    /// few decisions; vgg-small still misses by up to 25 % at ε = 1e-2 and converges by 1e-3.
    static func checkDirections(name: String, input: Tensor, parameters: [Parameter], trials: Int = 3,
                                forward: (Tensor) -> Tensor, backward: (Tensor) -> Tensor,
                                file: StaticString = #filePath, line: UInt = #line) {
        let epsilon: Float = 1e-3
        let output = forward(input)
        let weights = randomValues(output.count, seed: 6)
        for parameter in parameters { parameter.gradient.update(repeating: 0, count: parameter.count) }
        let inputGradient = backward(Tensor(shape: output.shape, values: weights)).values
        let gradients = parameters.map { Array(UnsafeBufferPointer(start: $0.gradient, count: $0.count)) }
        let base = parameters.map(\.values), baseInput = input.values

        func loss(_ step: Float, _ directions: [[Float]], _ inputDirection: [Float]) -> Double {
            for (p, parameter) in parameters.enumerated() {
                for i in 0..<parameter.count { parameter.value[i] = base[p][i] + step * directions[p][i] }
            }
            for i in 0..<input.count { input[i] = baseInput[i] + step * inputDirection[i] }
            let out = forward(input)
            return (0..<out.count).reduce(0.0) { $0 + Double(out[$1]) * Double(weights[$1]) }
        }
        for trial in 0..<trials {
            var directions = parameters.enumerated().map { randomValues($1.count, seed: 100 + UInt64(trial * 1000 + $0)) }
            var inputDirection = randomValues(input.count, seed: 200 + UInt64(trial))
            let norm = (directions.joined() + inputDirection).reduce(0) { $0 + $1 * $1 }.squareRoot()
            directions = directions.map { $0.map { $0 / norm } }
            inputDirection = inputDirection.map { $0 / norm }
            let numeric = (loss(epsilon, directions, inputDirection) - loss(-epsilon, directions, inputDirection)) / (2 * Double(epsilon))
            var analytic = zip(inputGradient, inputDirection).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            for (gradient, direction) in zip(gradients, directions) {
                analytic += zip(gradient, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            XCTAssertEqual(analytic, numeric, accuracy: 1e-2 * max(1, abs(numeric)), "\(name) direction \(trial)", file: file, line: line)
        }
        _ = loss(0, parameters.map { [Float](repeating: 0, count: $0.count) }, [Float](repeating: 0, count: input.count))
    }
}
