import Foundation

/// Batch normalisation over the channel axis of (B, C, H, W) or (B, C) activations.
/// Training uses the batch's statistics and updates running ones (PyTorch's convention:
/// momentum 0.1, unbiased running variance); evaluation uses the running ones. Images go through
/// oneDNN (`OneDNNBatchNorm`) when it runs the layer, which can also apply the ReLU after it;
/// the engine's own loops below are the fallback and serve (B, C) features.
public final class BatchNorm: Layer {
    let channels, spatial: Int
    let epsilon: Float = 1e-5
    let momentum: Float = 0.1
    public let gamma, beta, runningMean, runningVariance: Parameter
    public let outputShape: [Int]
    public var computesInputGradient = true

    private var input: Tensor!
    private var trainingMode = true
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    private var batchMean: [Float]
    private var batchInverseStd: [Float]
    private let oneDNN: OneDNNPath<OneDNNBatchNorm>
    /// The plan the last forward ran on oneDNN (nil: it ran on the engine's loops).
    private var plan: OneDNNBatchNorm?
    private let fallback = LayoutFallback()
    private let maskedGradient = Tensor(shape: [0])
    /// Set by `Network` when the ReLU after this layer is applied here (it then passes through).
    var fusesReLU = false
    var runsOnOneDNN: Bool { oneDNN.isActive }
    public var keepsOneDNNLayout = false
    public var takesOneDNNLayouts: Bool { oneDNN.isActive }
    public var library: KernelLibrary { oneDNN.isActive ? .oneDNN : .openBLAS }

    public init(inputShape: [Int], library: KernelLibrary = .selected) {
        channels = inputShape[0]
        spatial = inputShape.dropFirst().reduce(1, *)
        gamma = Parameter(shape: [channels], initial: [Float](repeating: 1, count: channels))
        beta = Parameter(shape: [channels], initial: [Float](repeating: 0, count: channels))
        runningMean = Parameter(shape: [channels], kind: .buffer, initial: [Float](repeating: 0, count: channels))
        runningVariance = Parameter(shape: [channels], kind: .buffer, initial: [Float](repeating: 1, count: channels))
        batchMean = [Float](repeating: 0, count: channels)
        batchInverseStd = [Float](repeating: 1, count: channels)
        outputShape = inputShape
        oneDNN = OneDNNPath(library: inputShape.count == 3 ? library : .openBLAS, layerName: "a batch norm over \(inputShape)")
    }

    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", gamma), ("bias", beta), ("running_mean", runningMean), ("running_var", runningVariance)]
    }

    // input is (B, C, S) with S = H·W or 1, output likewise
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        trainingMode = training
        plan = oneDNN.plan(for: input, keepsLayout: keepsOneDNNLayout) {
            try OneDNNBatchNorm(channels: channels, batch: input.batch, inputShape: outputShape, inputLayout: $0,
                                keepsLayout: keepsOneDNNLayout, epsilon: epsilon, fusesReLU: fusesReLU)
        }
        if let plan {
            self.input = input
            output.reshape(input.shape, layout: plan.outputLayout)
            plan.forward(input: input.data, output: output.data, training: training, gamma: gamma, beta: beta,
                         runningMean: runningMean, runningVariance: runningVariance, momentum: momentum)
            return output
        }
        let input = fallback.plainInput(input)
        self.input = input
        output.reshape(input.shape)
        let batch = input.batch, spatial = self.spatial, stride = channels * spatial
        let x = input.data, y = output.data
        let g = gamma.value, b = beta.value, rm = runningMean.value, rv = runningVariance.value
        let m = Float(batch * spatial)
        batchMean.withUnsafeMutableBufferPointer { meanBuffer in
            batchInverseStd.withUnsafeMutableBufferPointer { inverseStdBuffer in
                let means = meanBuffer.baseAddress!, inverseStds = inverseStdBuffer.baseAddress!
                Parallel.chunks(channels) { range, _ in
                    for c in range {
                        var mean: Float, inverseStd: Float
                        if training {
                            // One pass over the channel: sums of (x − k) and its square, shifted by the
                            // channel's first value k so the variance does not cancel when |mean| ≫ std.
                            let shift = x[c * spatial]
                            var sum: Double = 0, squares: Double = 0
                            for n in 0..<batch {
                                let row = shiftedSums(x + n * stride + c * spatial, count: spatial, shift: shift)
                                sum += Double(row.sum)
                                squares += Double(row.squares)
                            }
                            let shiftedMean = sum / Double(m)
                            mean = shift + Float(shiftedMean)
                            let variance = Float(Swift.max(squares / Double(m) - shiftedMean * shiftedMean, 0))
                            inverseStd = 1 / (variance + self.epsilon).squareRoot()
                            rm[c] = (1 - self.momentum) * rm[c] + self.momentum * mean
                            rv[c] = (1 - self.momentum) * rv[c] + self.momentum * variance * m / Swift.max(m - 1, 1)
                        } else {
                            mean = rm[c]
                            inverseStd = 1 / (rv[c] + self.epsilon).squareRoot()
                        }
                        means[c] = mean
                        inverseStds[c] = inverseStd
                        let scale = g[c] * inverseStd, shift = b[c] - mean * scale
                        let floor: Float = self.fusesReLU ? 0 : -.infinity
                        for n in 0..<batch {
                            let source = x + n * stride + c * spatial, destination = y + n * stride + c * spatial
                            for i in 0..<spatial { destination[i] = Swift.max(source[i] * scale + shift, floor) }
                        }
                    }
                }
            }
        }
        return output
    }

    // Training mode: dx = γ·σ⁻¹/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), with x̂ = (x − μ)·σ⁻¹, because μ and σ
    // depend on x. Evaluation mode (running statistics, e.g. input gradients of a frozen model):
    // the layer is affine and dx = γ·σ⁻¹·dy.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        inputGradient.reshape(input.shape, layout: input.layout)
        if let plan {
            plan.backward(input: input.data, outputGradient: outputGradient.data, inputGradient: inputGradient.data, gamma: gamma, beta: beta)
            return inputGradient
        }
        let outputGradient = fusesReLU ? reluMasked(outputGradient) : outputGradient
        let batch = input.batch, spatial = self.spatial, stride = channels * spatial
        let x = input.data, dy = outputGradient.data, dx = inputGradient.data
        let g = gamma.value, dg = gamma.gradient, db = beta.gradient
        let m = Float(batch * spatial)
        let wantInput = computesInputGradient, training = trainingMode
        batchMean.withUnsafeBufferPointer { meanBuffer in
            batchInverseStd.withUnsafeBufferPointer { inverseStdBuffer in
                let means = meanBuffer.baseAddress!, inverseStds = inverseStdBuffer.baseAddress!
                Parallel.chunks(channels) { range, _ in
                    for c in range {
                        let mean = means[c], inverseStd = inverseStds[c]
                        var sumDy: Float = 0, sumDyXhat: Float = 0
                        for n in 0..<batch {
                            let row = gradientSums(dy + n * stride + c * spatial, x + n * stride + c * spatial,
                                                   count: spatial, mean: mean, scale: inverseStd)
                            sumDy += row.sum
                            sumDyXhat += row.dot
                        }
                        dg[c] += sumDyXhat
                        db[c] += sumDy
                        guard wantInput else { continue }
                        if !training {
                            let scale = g[c] * inverseStd
                            for n in 0..<batch {
                                let dys = dy + n * stride + c * spatial, dxs = dx + n * stride + c * spatial
                                for i in 0..<spatial { dxs[i] = scale * dys[i] }
                            }
                            continue
                        }
                        let scale = g[c] * inverseStd / m
                        for n in 0..<batch {
                            let xs = x + n * stride + c * spatial, dys = dy + n * stride + c * spatial
                            let dxs = dx + n * stride + c * spatial
                            for i in 0..<spatial {
                                let xhat = (xs[i] - mean) * inverseStd
                                dxs[i] = scale * (m * dys[i] - sumDy - xhat * sumDyXhat)
                            }
                        }
                    }
                }
            }
        }
        return fallback.gradientInInputLayout(inputGradient)
    }

    /// dy where the fused ReLU let the value through (its output is positive), else 0.
    private func reluMasked(_ outputGradient: Tensor) -> Tensor {
        maskedGradient.reshape(outputGradient.shape)
        let y = output.data, dy = outputGradient.data, masked = maskedGradient.data
        Parallel.chunks(output.count) { range, _ in
            for i in range { masked[i] = y[i] > 0 ? dy[i] : 0 }
        }
        return maskedGradient
    }
}
