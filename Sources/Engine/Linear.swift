import CBLAS

/// y = x·Wᵀ + b. Weight (out, in) as PyTorch stores it, bias (out).
public final class Linear: Layer {
    let inFeatures, outFeatures: Int
    public let weight, bias: Parameter
    public let outputShape: [Int]
    public var computesInputGradient = true

    private var input: Tensor!
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inFeatures: Int, outFeatures: Int, rng: inout SeededGenerator) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures],
                           initial: uniformFanIn(count: outFeatures * inFeatures, fanIn: inFeatures, rng: &rng))
        bias = Parameter(shape: [outFeatures], initial: uniformFanIn(count: outFeatures, fanIn: inFeatures, rng: &rng))
        outputShape = [outFeatures]
    }

    public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    /// Draws fresh weights and biases, as at construction.
    public func reinitialize(rng: inout SeededGenerator) {
        uniformFanIn(count: weight.count, fanIn: inFeatures, rng: &rng).withUnsafeBufferPointer { weight.load($0) }
        uniformFanIn(count: bias.count, fanIn: inFeatures, rng: &rng).withUnsafeBufferPointer { bias.load($0) }
    }

    // input is (B, in), output is (B, out)
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.itemCount == inFeatures, "Linear expects \(inFeatures) features, got \(input.itemCount)")
        self.input = input
        let batch = input.batch
        output.reshape([batch, outFeatures])
        let x = input.data, y = output.data, w = weight.value, b = bias.value
        let inF = inFeatures, outF = outFeatures
        Parallel.chunks(batch) { range, _ in
            let rows = range.count
            for n in range { (y + n * outF).update(from: b, count: outF) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outF), Int32(inF),
                        1, x + range.lowerBound * inF, Int32(inF), w, Int32(inF), 1, y + range.lowerBound * outF, Int32(outF))
        }
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let batch = input.batch, inF = inFeatures, outF = outFeatures
        let x = input.data, dy = outputGradient.data, w = weight.value
        let dw = weight.gradient, db = bias.gradient
        // dW (out, in) += dYᵀ (out, B) · X (B, in), split by output rows so no reduction is needed.
        Parallel.chunks(outF) { range, _ in
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(range.count), Int32(inF), Int32(batch),
                        1, dy + range.lowerBound, Int32(outF), x, Int32(inF), 1, dw + range.lowerBound * inF, Int32(inF))
            for o in range {
                var sum: Float = 0
                for n in 0..<batch { sum += dy[n * outF + o] }
                db[o] += sum
            }
        }
        inputGradient.reshape(input.shape)
        guard computesInputGradient else { return inputGradient }
        let dx = inputGradient.data
        // dX (B, in) = dY (B, out) · W (out, in)
        Parallel.chunks(batch) { range, _ in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(range.count), Int32(inF), Int32(outF),
                        1, dy + range.lowerBound * outF, Int32(outF), w, Int32(inF), 0, dx + range.lowerBound * inF, Int32(inF))
        }
        return inputGradient
    }
}
