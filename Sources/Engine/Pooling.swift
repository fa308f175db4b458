/// Max pooling over K×K windows with a stride; remembers each output's winning input for backward.
/// On oneDNN (`OneDNNMaxPool`) when it runs the layer; the loops below are the fallback.
public final class MaxPool2d: Layer {
    let channels, height, width, kernel, stride, outputHeight, outputWidth: Int
    public let outputShape: [Int]
    public var computesInputGradient = true
    private let oneDNN: OneDNNPath<OneDNNMaxPool>
    /// The plan the last forward ran on oneDNN (nil: it ran on the engine's loops).
    private var plan: OneDNNMaxPool?
    private let fallback = LayoutFallback()
    public var keepsOneDNNLayout = false
    public var takesOneDNNLayouts: Bool { oneDNN.isActive }
    public var library: KernelLibrary { oneDNN.isActive ? .oneDNN : .openBLAS }

    private var inputShape: [Int] = []
    private var inputLayout: OneDNNLayout?
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])
    /// For each output element, the offset of its maximum within the input batch item.
    private var winners: [Int32] = []

    public init(inputShape: [Int], kernel: Int, stride: Int? = nil, library: KernelLibrary = .selected) {
        precondition(inputShape.count == 3, "MaxPool2d takes (C, H, W) items, got \(inputShape)")
        channels = inputShape[0]; height = inputShape[1]; width = inputShape[2]
        self.kernel = kernel
        self.stride = stride ?? kernel
        outputHeight = (height - kernel) / self.stride + 1
        outputWidth = (width - kernel) / self.stride + 1
        precondition(outputHeight > 0 && outputWidth > 0, "MaxPool2d input \(inputShape) too small")
        outputShape = [channels, outputHeight, outputWidth]
        oneDNN = OneDNNPath(library: library, layerName: "a \(kernel)×\(kernel) max pool over \(inputShape)")
    }

    // input is (B, C, H, W), output is (B, C, OH, OW)
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        plan = oneDNN.plan(for: input, keepsLayout: keepsOneDNNLayout) {
            try OneDNNMaxPool(batch: input.batch, inputShape: [channels, height, width], outputShape: outputShape, kernel: kernel,
                              stride: stride, inputLayout: $0, keepsLayout: keepsOneDNNLayout)
        }
        if let plan {
            inputShape = input.shape
            inputLayout = input.layout
            output.reshape([input.batch] + outputShape, layout: plan.outputLayout)
            plan.forward(input: input.data, output: output.data)
            return output
        }
        let input = fallback.plainInput(input)
        inputShape = input.shape
        inputLayout = nil
        let batch = input.batch
        output.reshape([batch] + outputShape)
        if winners.count < output.count { winners = [Int32](repeating: 0, count: output.count) }
        let inItem = channels * height * width, outItem = channels * outputHeight * outputWidth
        let x = input.data, y = output.data
        winners.withUnsafeMutableBufferPointer { winnerBuffer in
            let best = winnerBuffer.baseAddress!
            let (channels, height, width, kernel, stride) = (self.channels, self.height, self.width, self.kernel, self.stride)
            let (outputHeight, outputWidth) = (self.outputHeight, self.outputWidth)
            Parallel.chunks(batch) { range, _ in
                for n in range {
                    let image = x + n * inItem
                    var o = n * outItem
                    for c in 0..<channels {
                        let plane = c * height * width
                        for oy in 0..<outputHeight {
                            for ox in 0..<outputWidth {
                                let corner = plane + oy * stride * width + ox * stride
                                var bestOffset = corner
                                if kernel == 2 {
                                    // The common 2×2 window unrolled into selects rather than branches (which
                                    // mispredict on image data); ties keep the first, as the general loop does.
                                    let below = corner + width
                                    var bestValue = image[corner]
                                    @inline(__always) func consider(_ offset: Int) {
                                        let value = image[offset], better = value > bestValue
                                        bestValue = better ? value : bestValue
                                        bestOffset = better ? offset : bestOffset
                                    }
                                    consider(corner + 1)
                                    consider(below)
                                    consider(below + 1)
                                } else {
                                    for ky in 0..<kernel {
                                        let rowOffset = corner + ky * width
                                        for kx in 0..<kernel where image[rowOffset + kx] > image[bestOffset] {
                                            bestOffset = rowOffset + kx
                                        }
                                    }
                                }
                                y[o] = image[bestOffset]
                                best[o] = Int32(truncatingIfNeeded: bestOffset)
                                o += 1
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        inputGradient.reshape(inputShape, layout: inputLayout)
        if let plan {
            plan.backward(outputGradient: outputGradient.data, inputGradient: inputGradient.data)
            return inputGradient
        }
        let batch = inputShape[0]
        let inItem = channels * height * width, outItem = channels * outputHeight * outputWidth
        let dy = outputGradient.data, dx = inputGradient.data
        winners.withUnsafeBufferPointer { winnerBuffer in
            let best = winnerBuffer.baseAddress!
            Parallel.chunks(batch) { range, _ in
                for n in range {
                    let dImage = dx + n * inItem
                    dImage.update(repeating: 0, count: inItem)
                    for o in n * outItem..<(n + 1) * outItem { dImage[Int(best[o])] += dy[o] }
                }
            }
        }
        return fallback.gradientInInputLayout(inputGradient)
    }
}

/// Average pooling over K×K windows with a stride (no padding).
public final class AvgPool2d: Layer {
    let channels, height, width, kernel, stride, outputHeight, outputWidth: Int
    public let outputShape: [Int]
    public var computesInputGradient = true

    private var inputShape: [Int] = []
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inputShape: [Int], kernel: Int, stride: Int? = nil) {
        precondition(inputShape.count == 3, "AvgPool2d takes (C, H, W) items, got \(inputShape)")
        channels = inputShape[0]; height = inputShape[1]; width = inputShape[2]
        self.kernel = kernel
        self.stride = stride ?? kernel
        outputHeight = (height - kernel) / self.stride + 1
        outputWidth = (width - kernel) / self.stride + 1
        precondition(outputHeight > 0 && outputWidth > 0, "AvgPool2d input \(inputShape) too small")
        outputShape = [channels, outputHeight, outputWidth]
    }

    /// Global average pooling: one value per channel.
    public convenience init(globalOver inputShape: [Int]) {
        precondition(inputShape.count == 3 && inputShape[1] == inputShape[2], "global pooling needs square (C, H, W) items")
        self.init(inputShape: inputShape, kernel: inputShape[1])
    }

    // input is (B, C, H, W), output is (B, C, OH, OW)
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        let batch = input.batch
        output.reshape([batch] + outputShape)
        let planes = batch * channels, inPlane = height * width, outPlane = outputHeight * outputWidth
        let scale = 1 / Float(kernel * kernel)
        let x = input.data, y = output.data
        Parallel.chunks(planes) { range, _ in
            for p in range {
                let source = x + p * inPlane, destination = y + p * outPlane
                for oy in 0..<self.outputHeight {
                    for ox in 0..<self.outputWidth {
                        var sum: Float = 0
                        for ky in 0..<self.kernel {
                            let row = source + (oy * self.stride + ky) * self.width + ox * self.stride
                            for kx in 0..<self.kernel { sum += row[kx] }
                        }
                        destination[oy * self.outputWidth + ox] = sum * scale
                    }
                }
            }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        inputGradient.reshape(inputShape)
        let planes = inputShape[0] * channels, inPlane = height * width, outPlane = outputHeight * outputWidth
        let scale = 1 / Float(kernel * kernel)
        let dy = outputGradient.data, dx = inputGradient.data
        Parallel.chunks(planes) { range, _ in
            for p in range {
                let source = dy + p * outPlane, destination = dx + p * inPlane
                destination.update(repeating: 0, count: inPlane)
                for oy in 0..<self.outputHeight {
                    for ox in 0..<self.outputWidth {
                        let share = source[oy * self.outputWidth + ox] * scale
                        for ky in 0..<self.kernel {
                            let row = destination + (oy * self.stride + ky) * self.width + ox * self.stride
                            for kx in 0..<self.kernel { row[kx] += share }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}
