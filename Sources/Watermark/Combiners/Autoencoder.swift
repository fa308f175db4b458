import Data
import Engine
import Foundation

/// A small convolutional autoencoder trained to reconstruct the main task's images; the
/// autoencoder-blend combiner mixes two images in its latent space.
///
/// Encoder: conv 3×3 → 16, ReLU, max-pool 2, conv 3×3 → 8, ReLU, max-pool 2 — a latent of
/// 8 × H/4 × W/4 feature maps. Decoder: the mirror image with nearest-neighbour upsampling.
/// Inputs are raw pixels in [0, 1]; decoded images are clamped to that range.
public final class Autoencoder: @unchecked Sendable {
    public let itemShape: [Int]
    let encoder: Network
    let decoder: Network
    /// The layers cache activations between forward and backward, so one blend runs at a time.
    private let lock = NSLock()

    public init(itemShape: [Int], seed: UInt64) throws {
        // The shape may come from a file beside a spec: it is bounded like a checkpoint's before
        // any layer is allocated for it.
        if let problem = ModelCard.itemShapeProblem(itemShape) { throw WatermarkError.mismatch("the autoencoder's \(problem)") }
        guard itemShape[1] % 4 == 0, itemShape[2] % 4 == 0 else {
            throw WatermarkError.mismatch("the autoencoder needs (C, H, W) images with H and W divisible by 4, got \(itemShape)")
        }
        self.itemShape = itemShape
        var rng = SeededGenerator(seed: seed)
        let (c, h, w) = (itemShape[0], itemShape[1], itemShape[2])
        encoder = Network(architecture: "autoencoder-encoder", inputShape: itemShape, layers: [
            Conv2d(inputShape: [c, h, w], outChannels: 16, kernel: 3, padding: 1, rng: &rng),
            ReLU(inputShape: [16, h, w]),
            MaxPool2d(inputShape: [16, h, w], kernel: 2),
            Conv2d(inputShape: [16, h / 2, w / 2], outChannels: 8, kernel: 3, padding: 1, rng: &rng),
            ReLU(inputShape: [8, h / 2, w / 2]),
            MaxPool2d(inputShape: [8, h / 2, w / 2], kernel: 2),
        ])
        decoder = Network(architecture: "autoencoder-decoder", inputShape: [8, h / 4, w / 4], layers: [
            Upsample2d(inputShape: [8, h / 4, w / 4], factor: 2),
            Conv2d(inputShape: [8, h / 2, w / 2], outChannels: 16, kernel: 3, padding: 1, rng: &rng),
            ReLU(inputShape: [16, h / 2, w / 2]),
            Upsample2d(inputShape: [16, h / 2, w / 2], factor: 2),
            Conv2d(inputShape: [16, h, w], outChannels: c, kernel: 3, padding: 1, rng: &rng),
        ])
        decoder.computesInputGradient = true
    }

    var latentSize: Int { 8 * (itemShape[1] / 4) * (itemShape[2] / 4) }

    /// Trains on the images of `dataset` (labels unused) to minimise the squared reconstruction
    /// error, with Adam; returns the mean per-pixel squared error of the last epoch.
    @discardableResult
    public func train(on dataset: Dataset, epochs: Int, batchSize: Int = 64, learningRate: Float = 1e-3, seed: UInt64,
                      progress: (_ epoch: Int, _ done: Int, _ meanSquaredError: Double) -> Void = { _, _, _ in }) -> Double {
        precondition(dataset.itemShape == itemShape, "autoencoder built for \(itemShape), data set has \(dataset.itemShape)")
        lock.lock(); defer { lock.unlock() }
        let size = dataset.itemSize
        var rng = SeededGenerator(seed: seed)
        let encoderOptimizer = Adam(), decoderOptimizer = Adam()
        let batch = Tensor(shape: [batchSize] + itemShape)
        var lastError = 0.0
        for epoch in 1...epochs {
            let order = Array(0..<dataset.count).shuffled(using: &rng)
            var squaredErrors = 0.0
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let rows = order[start..<min(start + batchSize, order.count)]
                batch.reshape([rows.count] + itemShape)
                dataset.images.withUnsafeBufferPointer { images in
                    for (n, index) in rows.enumerated() {
                        (batch.data + n * size).update(from: images.baseAddress! + index * size, count: size)
                    }
                }
                encoder.store.zeroGradients()
                decoder.store.zeroGradients()
                let reconstruction = decoder.forward(encoder.forward(batch, training: true), training: true)
                let gradient = Tensor(shape: reconstruction.shape)
                let loss = Loss.squaredError(output: reconstruction, target: batch.data, gradient: gradient)
                encoder.backward(decoder.backward(gradient))
                encoderOptimizer.step(encoder.store, learningRate: learningRate)
                decoderOptimizer.step(decoder.store, learningRate: learningRate)
                squaredErrors += 2 * Double(loss) * Double(rows.count)
                progress(epoch, start + rows.count, squaredErrors / Double((start + rows.count) * size))
            }
            lastError = squaredErrors / Double(order.count * size)
        }
        return lastError
    }

    /// decode(ratio·encode(a) + (1 − ratio)·encode(b)), clamped to [0, 1].
    func blend(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, ratio: Float, into out: UnsafeMutablePointer<Float>) {
        lock.lock(); defer { lock.unlock() }
        let size = itemShape.reduce(1, *), latent = latentSize
        let pair = Tensor(shape: [2] + itemShape)
        pair.data.update(from: a, count: size)
        (pair.data + size).update(from: b, count: size)
        let codes = encoder.forward(pair, training: false)
        let mixed = Tensor(shape: [1] + decoder.inputShape)
        for i in 0..<latent { mixed.data[i] = ratio * codes.data[i] + (1 - ratio) * codes.data[latent + i] }
        let image = decoder.forward(mixed, training: false)
        for i in 0..<size { out[i] = min(1, max(0, image.data[i])) }
    }

    /// The weights as safetensors (`encoder.layers.0.weight`, …) with the item shape in the metadata.
    public func encoded() -> Data {
        let entries = parameters.map { Safetensors.Entry(name: $0.name, shape: $0.parameter.shape, values: $0.parameter.values) }
        let shape = itemShape.map(String.init).joined(separator: ",")
        return Safetensors(entries: entries, metadata: ["format": Self.format, "item_shape": shape]).encoded()
    }

    /// SHA-256 of `encoded()`: what a spec names the autoencoder by.
    public var digest: String { sha256Hex(encoded()) }

    public static func decode(_ data: Data, path: String) throws -> Autoencoder {
        let file = try Safetensors(decoding: data, path: path)
        guard file.metadata["format"] == format else {
            throw WatermarkError.invalidSpec(path: path, reason: "not a \(format) file")
        }
        let shape = (file.metadata["item_shape"] ?? "").split(separator: ",").compactMap { Int($0) }
        let autoencoder = try Autoencoder(itemShape: shape, seed: 0)
        for (name, parameter) in autoencoder.parameters {
            guard let entry = file[name], entry.shape == parameter.shape else {
                throw WatermarkError.invalidSpec(path: path, reason: "missing or misshapen tensor \(name)")
            }
            entry.values.withUnsafeBufferPointer { parameter.load($0) }
        }
        return autoencoder
    }

    static let format = "tracemark.autoencoder/v1"

    private var parameters: [(name: String, parameter: Parameter)] {
        encoder.namedParameters.map { ("encoder.\($0.name)", $0.parameter) }
            + decoder.namedParameters.map { ("decoder.\($0.name)", $0.parameter) }
    }
}
