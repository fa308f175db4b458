import Data
import Foundation
import Engine
import Training

/// What a thief does to a copied model to wash the watermark out.
public enum Removal {
    /// Sets the given share of each convolution and linear weight tensor (smallest magnitudes
    /// first) to zero. Biases and normalisation parameters stay. Returns how many weights were zeroed.
    @discardableResult
    public static func prune(_ classifier: Classifier, fraction: Double) -> Int {
        precondition(fraction >= 0 && fraction < 1, "pruning fraction must lie in [0, 1)")
        var zeroed = 0
        for (name, parameter) in classifier.network.namedParameters
        where name.hasSuffix(".weight") && parameter.shape.count >= 2 {
            let magnitudes = (0..<parameter.count).map { abs(parameter.value[$0]) }.sorted()
            let cut = Int((Double(parameter.count) * fraction).rounded(.down))
            guard cut > 0 else { continue }
            let threshold = magnitudes[cut - 1]
            var budget = cut
            for i in 0..<parameter.count where budget > 0 && abs(parameter.value[i]) <= threshold {
                parameter.value[i] = 0
                budget -= 1
            }
            zeroed += cut - budget
        }
        return zeroed
    }

    /// Mixed images relabelled to wrong classes: pairs of random images combined by combining ways
    /// the thief guesses (every kind, random geometry), each labelled with a class that is neither
    /// of its sources, appended to `clean`. Fine-tuning on the result tries to unlearn any
    /// "mixes mean something" behaviour.
    public static func relabelledMixes(_ clean: Dataset, count: Int, seed: UInt64) throws -> Dataset {
        var rng = SeededGenerator(seed: seed)
        let size = clean.itemSize, classes = clean.classNames.count
        // Constant parameters, each inside its combiner's bounds.
        let guesses: [Combiner] = try! [
            .cropPaste(CropPaste(region: .top, fraction: 0.5, jitter: 4, swapsSources: true)),
            .cropPaste(CropPaste(region: .left, fraction: 0.5, jitter: 4, swapsSources: true)),
            .cropPaste(CropPaste(region: .topLeft, fraction: 0.5, jitter: 3, swapsSources: true)),
            .pixelMerge(PixelMerge(ratio: 0.5)),
            .stripes(.alternating(.vertical, count: 4)),
            .stripes(.alternating(.horizontal, count: 4)),
        ]
        var result = clean
        var mixed = [Float](repeating: 0, count: count * size)
        var labels: [Int32] = []
        try clean.images.withUnsafeBufferPointer { images in
            try mixed.withUnsafeMutableBufferPointer { out in
                for n in 0..<count {
                    let i = Int(rng.next() % UInt64(clean.count)), j = Int(rng.next() % UInt64(clean.count))
                    try guesses[n % guesses.count].combine(images.baseAddress! + i * size, images.baseAddress! + j * size,
                                                       into: out.baseAddress! + n * size, shape: clean.itemShape, rng: &rng)
                    var label = Int32(rng.next() % UInt64(classes))
                    while label == clean.labels[i] || label == clean.labels[j] { label = Int32(rng.next() % UInt64(classes)) }
                    labels.append(label)
                }
            }
        }
        result.images += mixed
        result.labels += labels
        return result
    }

    /// Trigger samples with Gaussian noise of standard deviation `sigma` added (clipped to [0, 1]):
    /// verification under a suspect that perturbs its inputs.
    public static func noisy(_ samples: TriggerSamples, sigma: Float, seed: UInt64) -> TriggerSamples {
        var rng = SeededGenerator(seed: seed)
        var result = samples
        for i in result.images.indices {
            // Box–Muller from two uniforms.
            let u = Swift.max(rng.nextUnitFloat(), 1e-7), v = rng.nextUnitFloat()
            let z = (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Float.pi * v)
            result.images[i] = Swift.min(Swift.max(result.images[i] + sigma * z, 0), 1)
        }
        return result
    }
}
