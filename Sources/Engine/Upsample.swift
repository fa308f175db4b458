/// Nearest-neighbour upsampling by an integer factor: each input pixel becomes a factor×factor block.
public final class Upsample2d: Layer {
    let channels, height, width, factor: Int
    public let outputShape: [Int]
    public var computesInputGradient = true

    private var inputShape: [Int] = []
    private let output = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(inputShape: [Int], factor: Int) {
        precondition(inputShape.count == 3, "Upsample2d takes (C, H, W) items, got \(inputShape)")
        precondition(factor >= 1, "Upsample2d factor must be at least 1")
        channels = inputShape[0]; height = inputShape[1]; width = inputShape[2]
        self.factor = factor
        outputShape = [channels, height * factor, width * factor]
    }

    // input is (B, C, H, W), output is (B, C, H·f, W·f)
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        inputShape = input.shape
        output.reshape([input.batch] + outputShape)
        let (height, width, factor) = (self.height, self.width, self.factor)
        let outWidth = width * factor, inPlane = height * width, outPlane = inPlane * factor * factor
        let x = input.data, y = output.data
        Parallel.chunks(input.batch * channels) { range, _ in
            for p in range {
                let source = x + p * inPlane, destination = y + p * outPlane
                for oy in 0..<height * factor {
                    let row = source + (oy / factor) * width, outRow = destination + oy * outWidth
                    for ox in 0..<outWidth { outRow[ox] = row[ox / factor] }
                }
            }
        }
        return output
    }

    /// Each input pixel's gradient is the sum over the block it was copied into.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        inputGradient.reshape(inputShape)
        let (height, width, factor) = (self.height, self.width, self.factor)
        let outWidth = width * factor, inPlane = height * width, outPlane = inPlane * factor * factor
        let dy = outputGradient.data, dx = inputGradient.data
        Parallel.chunks(inputShape[0] * channels) { range, _ in
            for p in range {
                let source = dy + p * outPlane, destination = dx + p * inPlane
                destination.update(repeating: 0, count: inPlane)
                for oy in 0..<height * factor {
                    let row = destination + (oy / factor) * width, outRow = source + oy * outWidth
                    for ox in 0..<outWidth { row[ox / factor] += outRow[ox] }
                }
            }
        }
        return inputGradient
    }
}
